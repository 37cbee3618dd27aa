"""Deployment files, packaged as sms_notify.deploy so that `sms-notify help TOPIC` prints them from a wheel."""

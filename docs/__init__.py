"""The guides, packaged as sms_notify.docs so that `sms-notify help TOPIC` prints them from a wheel."""

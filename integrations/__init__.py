"""Thin adapters from monitoring systems to the core (installed as sms_notify.integrations)."""

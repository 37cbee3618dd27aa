"""Built-in provider plugins, one module per gateway (installed as sms_notify.plugins)."""

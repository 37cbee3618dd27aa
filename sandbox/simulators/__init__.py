"""The built-in gateways' simulators, written from the gateways' documents (docs/gateways.md),
never from the clients in sms_notify.plugins: each plugin registers its own through the
``sms_notify_register_simulators`` hook."""

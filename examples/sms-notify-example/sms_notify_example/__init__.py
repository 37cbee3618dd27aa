"""An example sms-notify provider plugin: the client in `provider`, the simulator in `simulator`."""

"""Provider plugin for server2sms: being written (see issues 2 and 3)."""

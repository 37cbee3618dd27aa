"""Provider plugin for sms24x: being written (see issues 2 and 3)."""

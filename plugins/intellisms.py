"""Provider plugin for intellisms: being written (see issues 2 and 3)."""

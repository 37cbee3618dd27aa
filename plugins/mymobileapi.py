"""Provider plugin for mymobileapi: being written (see issues 2 and 3)."""

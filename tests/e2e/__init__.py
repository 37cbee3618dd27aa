"""End-to-end tests: real processes over real sockets on 127.0.0.1."""

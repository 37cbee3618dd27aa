"""The listening socket of `serve` and `sandbox`: HOST:PORT parsing, binding before uvicorn
starts (so port 0 can be reported in the ready line), and the address to print."""

from __future__ import annotations

import argparse
import socket

from .errors import UsageError


def parse_listen(value: str, example: str = "127.0.0.1:8025") -> tuple[str, int]:
    """HOST:PORT (port 0 picks a free one); IPv6 hosts in brackets."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected HOST:PORT, e.g. {example}")
    return host.strip("[]") or "127.0.0.1", int(port)


def bind(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening socket; a port in use or a bad host is a usage error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    return sock


def address(sock: socket.socket) -> str:
    """http://HOST:PORT of a bound socket, with the port it really got."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"

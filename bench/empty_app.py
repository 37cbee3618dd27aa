"""The receiver's server stack (Starlette on uvicorn, one process) answering an empty 200.

    python bench/empty_app.py   # prints "listening on http://127.0.0.1:PORT"

The baseline bench/receiver.py measures `sms-notify serve` against.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def alert(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


def main() -> None:
    app = Starlette(routes=[Route("/alert/{route:path}", alert, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()

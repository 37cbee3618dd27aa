"""The receiver's server stack answering an empty 200: the baseline bench/receiver.py measures
`sms-notify serve` against.

    python bench/empty_app.py   # prints "listening on http://127.0.0.1:PORT"

The same stack as `serve`'s /alert: uvicorn (httptools, uvloop), Starlette's router and
middleware, and a plain ASGI endpoint that reads the whole body and answers. It does nothing
else: no auth, no JSON, no body in the answer.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


class Empty:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


def main() -> None:
    app = Starlette(routes=[Route("/alert/{route:path}", Empty(), methods=["POST"]),
                            Route("/sink", Empty(), methods=["GET", "POST"])])  # sachet's gateway
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()

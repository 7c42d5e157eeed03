"""Each request's id: the client's `X-Request-Id` when it is a safe one (at most 128
letters, digits and `._:@/+=-`), else a new one. It is sent back in the answer's
`X-Request-Id`, carried by every log line written while the request is answered, and kept
with the jobs the request submits, so that the worker's lines about them carry it too."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pdfprompt.domain import log_context, request_id_from

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode("latin-1")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = [v for k, v in scope.get("headers", ()) if k == _HEADER_KEY]
        given = sent[0].decode("latin-1") if len(sent) == 1 else None
        request_id = request_id_from(given)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id)

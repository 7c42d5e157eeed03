"""What is refused before a request is routed: what no route could take.

- a path with a control character (NUL above all: PostgreSQL cannot compare text holding
  one) answers 404, as a path that names nothing does;
- a query parameter with a control character answers 422 naming the parameter;
- a body over the largest any route takes answers 413, from its declared length at once or
  as soon as a streamed body passes it (each route also has its own, smaller limit:
  `api/body.py`).
"""

from __future__ import annotations

import re

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pdfprompt.api.errors import problem
from pdfprompt.domain import PayloadTooLargeError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _PATH_CONTROL.search(scope["path"]):
            await problem("not_found", "no such resource")(scope, receive, send)
            return
        if scope.get("query_string"):
            for name, value in QueryParams(scope["query_string"]).multi_items():
                if _CONTROL.search(name) or _CONTROL.search(value):
                    field = "query." + _CONTROL.sub("?", name)[:64]
                    detail = f"{field}: contains a control character"
                    await problem("invalid_input", detail, field=field)(scope, receive, send)
                    return
        limit = self.max_body_bytes
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and (not value.isdigit() or int(value[:20]) > limit):
                error = f"body: over the limit of {limit} bytes"
                await problem("payload_too_large", error, field="body")(scope, receive, send)
                return
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(
                        f"body: over the limit of {limit} bytes", field="body"
                    )
            return message

        await self.app(scope, capped, send)

"""Adding the pages and their stylesheet to an app that holds `app.state.services`."""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pdfprompt.web import (
    account_settings,
    accounts,
    admin,
    documents,
    history,
    keys,
    kit,
    links,
    shares,
    usage,
    webhooks,
)

_STATIC = Path(__file__).with_name("static")


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def wants_page(request: Request) -> bool:
    """Whether a request is a person's browser asking for a page: it prefers HTML and the
    path is not the API's (whose clients always get problem+json)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/v1/")


def install_web(app: FastAPI) -> None:
    """The pages and `/static/` on `app`; a browser asking for an address that names
    nothing gets a page saying so, API clients the API's problem+json."""
    api_answer = app.exception_handlers[StarletteHTTPException]

    async def _not_a_page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and wants_page(request):
            text = "There is nothing here, or it is not yours to see."
            me = await kit.signed_in_or_none(request)
            return kit.message(request, 404, "Not found", text, me=me)
        answer = api_answer(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, _not_a_page)
    app.mount("/static", _Static(directory=_STATIC), name="static")
    # `/s/{token}` is the API's: a browser asking for it gets the public share page, whose
    # route matches only requests preferring HTML and goes before the API's routes; every
    # other client still reaches the API's route and its PDF (`web/shares.py`).
    app.router.routes[:0] = shares.for_browsers.routes
    app.include_router(accounts.router)
    app.include_router(documents.router)
    app.include_router(shares.router)
    app.include_router(usage.router)
    app.include_router(keys.router)
    app.include_router(webhooks.router)
    app.include_router(account_settings.router)
    app.include_router(links.router)
    app.include_router(admin.router)
    app.include_router(history.router)

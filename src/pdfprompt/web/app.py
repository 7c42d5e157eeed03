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
    asset_pages,
    batch_pages,
    documents,
    history,
    keys,
    kit,
    links,
    shares,
    template_pages,
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


# What a browser is told when the app, not a page, answers its request.
_WORDS = {
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not here", "This address is not opened that way. Go back and use the page's forms."),
}
_UNEXPECTED = ("Something went wrong", "Something went wrong on our side. Try again in a moment.")
_KEPT_HEADERS = ("allow", "retry-after")


async def _as_page(request: Request, answer: Response) -> Response:
    """The API's answer to a browser asking for a page, as a page with the same status
    (and its `Allow` and `Retry-After`), the pages' security headers and none of the
    API's words, with the nav for a person signed in (unless the error may be the
    database's); any other request's answer as it is."""
    status = answer.status_code
    if not wants_page(request) or (status not in _WORDS and status < 500):
        return answer
    title, text = _WORDS.get(status, _UNEXPECTED)
    headers = {k: answer.headers[k] for k in _KEPT_HEADERS if k in answer.headers}
    me = await kit.signed_in_or_none(request) if status < 500 else None
    return kit.message(request, status, title, text, headers, me=me)


def install_web(app: FastAPI) -> None:
    """The pages and `/static/` on `app`; a browser asking for an address that names
    nothing, in a way it is not opened, or meeting an error no page caught gets a page
    saying so, API clients the API's problem+json."""
    # The handlers that answer what no route caught: HTTP errors, and the unexpected error
    # with every class registered to the same handler (the database drivers' errors).
    http_error = app.exception_handlers[StarletteHTTPException]
    unexpected = app.exception_handlers[Exception]
    kinds = [k for k, h in app.exception_handlers.items() if h in (http_error, unexpected)]

    async def _page_or_problem(request: Request, exc: Exception) -> Response:
        handler = http_error if isinstance(exc, StarletteHTTPException) else unexpected
        answer = handler(request, exc)
        return await _as_page(request, await answer if inspect.isawaitable(answer) else answer)

    for kind in kinds:
        app.add_exception_handler(kind, _page_or_problem)
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
    app.include_router(template_pages.router)
    app.include_router(asset_pages.router)
    app.include_router(batch_pages.router)

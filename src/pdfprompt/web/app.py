"""Adding the pages and their stylesheet to an app that holds `app.state.services`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pdfprompt.web import accounts, keys, shares, usage, webhooks

_STATIC = Path(__file__).with_name("static")


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_web(app: FastAPI) -> None:
    """The pages (`/`, `/signup`, `/signin`, `/signout`, sharing, usage, API keys,
    webhooks) and `/static/` on `app`."""
    app.mount("/static", _Static(directory=_STATIC), name="static")
    # `/s/{token}` is the API's: a browser asking for it gets the public share page, whose
    # route matches only requests preferring HTML and goes before the API's routes; every
    # other client still reaches the API's route and its PDF (`web/shares.py`).
    app.router.routes[:0] = shares.for_browsers.routes
    app.include_router(accounts.router)
    app.include_router(shares.router)
    app.include_router(usage.router)
    app.include_router(keys.router)
    app.include_router(webhooks.router)

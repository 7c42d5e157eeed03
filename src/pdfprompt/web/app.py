"""Adding the pages and their stylesheet to an app that holds `app.state.services`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pdfprompt.web import accounts, history

_STATIC = Path(__file__).with_name("static")


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_web(app: FastAPI) -> None:
    """The pages (`/`, `/signup`, `/signin`, `/signout`) and `/static/` on `app`."""
    app.mount("/static", _Static(directory=_STATIC), name="static")
    app.include_router(accounts.router)
    app.include_router(history.router)

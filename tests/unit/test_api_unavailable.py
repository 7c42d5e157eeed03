"""A database that goes away mid-request: a 503 answered where other errors are answered,
never an error raised again past the answer (the server would log a traceback and drop the
client's kept-alive connection)."""

from __future__ import annotations

import sqlite3

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from pdfprompt.api.errors import install_error_handlers


def _app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/x")
    async def fails() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError("reset by peer"),
        sqlite3.OperationalError("database is locked"),
    ],
    ids=["asyncpg-closed", "reset", "sqlite-locked"],
)
async def test_a_database_gone_mid_request_is_a_503_and_nothing_more(error: Exception) -> None:
    # The transport raises whatever the app raises again, as the server would see it.
    transport = httpx.ASGITransport(app=_app(error), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        answer = await c.get("/x")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["code"] == "unavailable"


async def test_a_database_error_that_is_not_passing_is_a_500_answered_in_place() -> None:
    error = sqlite3.OperationalError("no such table: jobs")
    transport = httpx.ASGITransport(app=_app(error), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        answer = await c.get("/x")
    assert answer.status_code == 500 and answer.json()["code"] == "internal"

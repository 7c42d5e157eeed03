"""Driver errors are told apart at the edge of db/: unreachable is retryable, bad SQL is not."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import create_engine, is_unavailable
from pdfprompt.settings import Settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens here once the socket is closed


async def test_unreachable_postgres_is_unavailable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/none"
    engine = create_engine(Settings(database_url=url, database_connect_timeout_s=2))
    try:
        with pytest.raises(Exception) as info:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_unavailable(info.value)
    finally:
        await engine.dispose()


async def test_bad_statements_are_not_unavailable(engine: AsyncEngine) -> None:
    with pytest.raises(Exception) as info:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert not is_unavailable(info.value)

"""What the store tests make their rows with, through the stores' own methods: a person on a
plan, a new job with the usual defaults, and a wall clock the test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.domain import JobType
from pdfprompt.queue import NewJob


async def store_user(engine: AsyncEngine, email: str, plan: str = "enterprise") -> str:
    """A new person's id (no password: keys only)."""
    return (await AccountStore(engine).create_user(email, plan)).id


def new_job(user_id: str, **kw: Any) -> NewJob:
    """A Markdown job of the person's (`# hi`, no options, 3 attempts), with `kw` instead."""
    base: dict[str, Any] = {
        "user_id": user_id,
        "type": JobType.MARKDOWN,
        "input": "# hi",
        "options": {},
        "max_attempts": 3,
    }
    return NewJob(**{**base, **kw})


class Clock:
    """A wall clock (UTC) that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

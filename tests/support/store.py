"""Users and jobs made straight through the stores, for the tests of the job store, the
worker, the maintenance passes and the webhooks they trigger."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.domain import JobType
from pdfprompt.queue import NewJob


async def new_user(
    engine: AsyncEngine, email: str = "a@example.com", plan: str = "enterprise"
) -> str:
    """A user on `plan`; their id."""
    return (await AccountStore(engine).create_user(email, plan)).id


def new_job(user_id: str, **kw: Any) -> NewJob:
    """A Markdown job of `user_id` that reserves nothing, with `kw` changed."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "type": JobType.MARKDOWN,
        "input": "# hi",
        "options": {},
        "max_attempts": 3,
    }
    return NewJob(**{**values, **kw})


def reserving_job(
    user_id: str, limit: int | None = 3, period: str | None = "2026-11", **kw: Any
) -> NewJob:
    """An HTML job on the classic plan that reserves one PDF of the owner's quota for
    `period` (None: no reservation) against `limit` (None: unlimited), with `kw` changed."""
    values: dict[str, Any] = {
        "type": JobType.HTML,
        "input": "<p>q</p>",
        "plan": "classic",
        "max_attempts": 2,
        "quota_period": period,
        "quota_limit": limit,
    }
    return new_job(user_id, **{**values, **kw})

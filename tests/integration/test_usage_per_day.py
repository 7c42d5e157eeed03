"""PDFs per UTC day (the usage page's chart) on real SQLite and PostgreSQL: days counted
from the usage history's PDFs only, the user's only, within the days asked, empty days
included, and a PDF made just before or after midnight UTC on its own day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import usage_events

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_pdfs_are_counted_per_utc_day(engine: AsyncEngine) -> None:
    accounts = AccountStore(engine, clock=lambda: NOW)
    user = (await accounts.create_user("days@example.com", "classic")).id
    other = (await accounts.create_user("others@example.com", "classic")).id
    made = [
        (user, "job", datetime(2026, 11, 30, 0, 0, 0, 100_000, tzinfo=UTC)),
        (user, "job", datetime(2026, 11, 29, 23, 59, 59, 900_000, tzinfo=UTC)),
        (user, "job", datetime(2026, 11, 29, 8, 0, tzinfo=UTC)),
        (user, "job", datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC)),  # the first day shown
        (user, "job", datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)),  # a day too early
        (user, "plan_change", datetime(2026, 11, 29, 9, 0, tzinfo=UTC)),  # no PDF
        (other, "job", datetime(2026, 11, 29, 9, 0, tzinfo=UTC)),  # someone else's
    ]
    async with engine.begin() as conn:
        await conn.execute(
            insert(usage_events),
            [
                {"user_id": who, "kind": kind, "period": at.strftime("%Y-%m"), "created_at": at}
                for who, kind, at in made
            ],
        )
    days = await accounts.pdfs_per_day(user, 30)
    assert len(days) == 30
    assert days[0] == (date(2026, 11, 1), 1)
    assert days[-2:] == [(date(2026, 11, 29), 2), (date(2026, 11, 30), 1)]
    assert sum(n for _, n in days) == 4
    assert [d for d, _ in days] == sorted(d for d, _ in days)
    assert await accounts.pdfs_per_day(user, 1) == [(date(2026, 11, 30), 1)]
    assert len(await accounts.pdfs_per_day(user, 10_000)) == 366  # at most a year
    nobody = (await accounts.create_user("none@example.com", "classic")).id
    assert {n for _, n in await accounts.pdfs_per_day(nobody)} == {0}

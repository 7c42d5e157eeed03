"""Usage: this period's PDFs and stored bytes against a plan, and the usage history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, delete, func, literal_column, select
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.accounts.users import COLUMNS, User, UserRecords, user_of
from pdfprompt.db import stored_bytes, usage_counters, usage_events, users, write_transaction
from pdfprompt.domain import Plan, period_bounds

MAX_DAYS = 366


def _utc_day(column: ColumnElement[datetime], dialect: str) -> ColumnElement[str]:
    """The UTC day of a timestamp column as `YYYY-MM-DD`: SQLite keeps UTC times as sortable
    text that starts with it; PostgreSQL formats the time at UTC."""
    # Literals, not bound values: PostgreSQL groups by the expression only when the one in
    # GROUP BY is the very one selected, bound parameters included.
    if dialect == "sqlite":
        return func.substr(column, literal_column("1"), literal_column("10"), type_=String)
    utc = func.timezone(literal_column("'UTC'"), column)
    return func.to_char(utc, literal_column("'YYYY-MM-DD'"), type_=String)


MAX_FOUND = 100  # the most users one search lists
_SEARCH_CHARS = 320  # a longer search text is cut to this (an email's longest)


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A user as an administrator's list shows them: with this period's PDFs."""

    user: User
    pdfs_this_month: int


class UsageRecords(UserRecords):
    """What a user has used. Built on `UserRecords` because a user's usage is measured against
    the plan they are on now. A part of `AccountStore`."""

    async def usage(self, user_id: str, plan: Plan) -> dict[str, Any]:
        """This period's PDFs (used, reserved, limit) and stored bytes against the plan."""
        period = self.period()
        start, end = period_bounds(period)
        async with self.engine.connect() as conn:
            counter = (
                await conn.execute(
                    select(usage_counters.c.used, usage_counters.c.reserved).where(
                        usage_counters.c.user_id == user_id, usage_counters.c.period == period
                    )
                )
            ).first()
            stored = (await conn.execute(stored_bytes(user_id))).scalar_one()
        return {
            "plan": plan.as_dict(),
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "pdfs": {
                "used": counter.used if counter else 0,
                "reserved": counter.reserved if counter else 0,
                "limit": plan.pdfs_per_month,
            },
            "storage_bytes": {"used": int(stored), "limit": plan.storage_bytes},
        }

    async def user_usage(self, user_id: str) -> dict[str, Any]:
        """`usage` against the plan the user is on now (a quota warning's webhook says it)."""
        user = await self.get_user(user_id)
        return await self.usage(user_id, self.plan(user.plan))

    async def history(
        self, user_id: str, *, period: str | None, limit: int, cursor: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The user's usage history newest first (settled jobs and plan changes), optionally
        of one period; the cursor is the last id of the previous page."""
        query = select(usage_events).where(usage_events.c.user_id == user_id)
        if period is not None:
            query = query.where(usage_events.c.period == period)
        if cursor is not None:
            query = query.where(usage_events.c.id < cursor)
        query = query.order_by(usage_events.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [
            {k: v for k, v in r._mapping.items() if k != "user_id" and v is not None}
            for r in rows[:limit]
        ]
        return items, (rows[limit - 1].id if len(rows) > limit else None)

    async def pdfs_per_day(self, user_id: str, days: int = 30) -> list[tuple[date, int]]:
        """PDFs the user made on each of the last `days` UTC days (today last, from this
        store's clock), days without any included; at most `MAX_DAYS`."""
        days = max(1, min(days, MAX_DAYS))
        first = self.clock().astimezone(UTC).date() - timedelta(days=days - 1)
        since = datetime.combine(first, time.min, tzinfo=UTC)
        day = _utc_day(usage_events.c.created_at, self.engine.dialect.name).label("day")
        query = (
            select(day, func.count().label("pdfs"))
            .where(
                usage_events.c.user_id == user_id,
                usage_events.c.kind == "job",
                usage_events.c.created_at >= since,
            )
            .group_by(day)
        )
        async with self.engine.connect() as conn:
            counted = {r.day: int(r.pdfs) for r in await conn.execute(query)}
        every = (first + timedelta(days=n) for n in range(days))
        return [(d, counted.get(d.isoformat(), 0)) for d in every]

    async def search_users(
        self, text: str = "", *, limit: int = MAX_FOUND
    ) -> tuple[list[UserSummary], bool]:
        """Users whose email contains `text` (any when empty; `%`, `_` and the like match
        only themselves), newest first, at most `limit`, with this period's PDFs used; and
        whether more matched."""
        wanted = text.strip().lower()[:_SEARCH_CHARS]
        counter = and_(
            usage_counters.c.user_id == users.c.id, usage_counters.c.period == self.period()
        )
        query = (
            select(*COLUMNS, func.coalesce(usage_counters.c.used, 0).label("pdfs"))
            .select_from(users.outerjoin(usage_counters, counter))
            .order_by(users.c.id.desc())
            .limit(limit + 1)
        )
        if wanted:
            query = query.where(users.c.email.contains(wanted, autoescape=True))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found = [UserSummary(user_of(r), int(r.pdfs)) for r in rows[:limit]]
        return found, len(rows) > limit

    async def delete_usage_history(self, user_id: str, *, limit: int = 1000) -> int:
        """Delete up to `limit` of the user's usage history rows (one short transaction);
        how many. Called until it returns 0 before the user is deleted."""
        batch = (
            select(usage_events.c.id)
            .where(usage_events.c.user_id == user_id)
            .order_by(usage_events.c.user_id, usage_events.c.period, usage_events.c.id)
            .limit(limit)
        )
        async with write_transaction(self.engine) as conn:
            ids = list((await conn.execute(batch)).scalars())
            if ids:
                await conn.execute(delete(usage_events).where(usage_events.c.id.in_(ids)))
        return len(ids)

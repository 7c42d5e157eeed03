"""Usage: this period's PDFs and stored bytes against a plan, and the usage history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pdfprompt.accounts.users import UserRecords
from pdfprompt.db import stored_bytes, usage_counters, usage_events
from pdfprompt.domain import Plan, period_bounds


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

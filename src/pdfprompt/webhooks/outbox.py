"""The outbox: the durable queue of webhook deliveries, and each attempt made.

Deliveries are written by database triggers in the transaction that ends a job or records
a quota warning (migration 0005), one per subscribed endpoint. Workers claim due ones
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite), moving their due time
past a lease; the outcome of each attempt is recorded fenced by the claim (owner and
attempt number), so a delivery whose worker died is claimed again once its lease runs out
and a late answer from the old claim changes nothing. This fencing is the outbox's own,
not the job queue's: a delivery has no `running` status, only a due time moved past the
lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import (
    DriverStatement,
    db_now,
    now_plus,
    prune_older_than,
    read_one,
    seconds_between,
    seconds_since,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
    write_transaction,
)
from pdfprompt.domain import ConflictError, NotFoundError

INTERRUPTED = "interrupted: the worker stopped before the answer was recorded"
_d, _a, _w = webhook_deliveries.c, webhook_attempts.c, webhooks.c


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_at: datetime
    duration_ms: int | None
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: str
    event: str
    subject: str
    status: str  # pending | succeeded | failed
    attempts: int
    next_attempt_at: datetime | None  # when pending
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds for one attempt."""

    id: int
    webhook_id: str
    user_id: str
    event: str
    subject: str
    payload: str | None
    attempt: int  # this attempt's number, from 1
    age_s: float  # seconds since its retry window started, by the database clock
    created_at: datetime
    url: str
    secret: str
    # The database's time when it was claimed: what the signature's timestamp counts from,
    # so that a worker whose own clock is off still signs with a time receivers accept.
    claimed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    status_code: int | None
    error: str | None  # None: delivered
    duration_ms: int
    permanent: bool = False  # retrying cannot help (a refused address)

    @property
    def delivered(self) -> bool:
        return self.error is None


_DELIVERY_COLUMNS = (
    _d.id,
    _d.webhook_id,
    _d.event,
    _d.subject,
    _d.status,
    _d.attempts,
    _d.next_attempt_at,
    _d.last_status_code,
    _d.last_error,
    _d.created_at,
    _d.finished_at,
)


class WebhookOutbox:
    """Deliveries: the owner's view of them, the operator's backlog, the workers' claims
    and attempts, and retention."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # The owner's and the operator's side.

    async def deliveries(
        self,
        user_id: str,
        webhook_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> tuple[list[Delivery], int | None]:
        """The endpoint's deliveries, newest first, each with its attempts; and the cursor
        of the next page (None on the last)."""
        query = select(*_DELIVERY_COLUMNS).where(_d.webhook_id == webhook_id)
        if status is not None:
            query = query.where(_d.status == status)
        if before is not None:
            query = query.where(_d.id < before)
        async with self.engine.connect() as conn:
            owner = (
                await conn.execute(select(_w.user_id).where(_w.id == webhook_id))
            ).scalar_one_or_none()
            if owner != user_id:
                raise NotFoundError(f"webhook {webhook_id} not found")
            rows = (await conn.execute(query.order_by(_d.id.desc()).limit(limit + 1))).all()
            page = rows[:limit]
            logs: dict[int, list[Attempt]] = {r.id: [] for r in page}
            if page:
                attempts = await conn.execute(
                    select(
                        _a.delivery_id,
                        _a.number,
                        _a.started_at,
                        _a.duration_ms,
                        _a.status_code,
                        _a.error,
                    )
                    .where(_a.delivery_id.in_(list(logs)))
                    .order_by(_a.delivery_id, _a.number)
                )
                for a in attempts:
                    logs[a.delivery_id].append(
                        Attempt(a.number, a.started_at, a.duration_ms, a.status_code, a.error)
                    )
        found = [_delivery(r, logs[r.id]) for r in page]
        return found, (page[-1].id if len(rows) > limit else None)

    async def redeliver(self, user_id: str, webhook_id: str, delivery_id: int) -> Delivery:
        """Send an ended delivery again, with a new retry window."""
        async with write_transaction(self.engine) as conn:
            hook = (
                await conn.execute(
                    select(_w.disabled_at).where(_w.id == webhook_id, _w.user_id == user_id)
                )
            ).first()
            if hook is None:
                raise NotFoundError(f"webhook {webhook_id} not found")
            if hook.disabled_at is not None:
                raise ConflictError("the webhook is disabled: enable it first")
            row = (
                await conn.execute(
                    update(webhook_deliveries)
                    .where(
                        _d.id == delivery_id,
                        _d.webhook_id == webhook_id,
                        _d.status.in_(("succeeded", "failed")),
                    )
                    .values(
                        status="pending",
                        next_attempt_at=db_now(),
                        window_start=db_now(),
                        finished_at=None,
                        lease_owner=None,
                    )
                    .returning(*_DELIVERY_COLUMNS)
                )
            ).first()
            if row is None:
                known = (
                    await conn.execute(
                        select(_d.status).where(_d.id == delivery_id, _d.webhook_id == webhook_id)
                    )
                ).first()
                if known is None:
                    raise NotFoundError(f"delivery {delivery_id} not found")
                raise ConflictError("the delivery is still pending")
        return _delivery(row, [])

    async def backlog(self, window_s: float = 3600.0) -> dict[str, int]:
        """For operators: deliveries pending (and of those, due now), and those that
        succeeded or failed for good in the last `window_s`."""
        recent = _d.finished_at >= now_plus(-window_s)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        func.count().filter(_d.status == "pending").label("pending"),
                        func.count()
                        .filter(_d.status == "pending", _d.next_attempt_at <= db_now())
                        .label("due"),
                        func.count().filter(_d.status == "succeeded", recent).label("succeeded"),
                        func.count().filter(_d.status == "failed", recent).label("failed"),
                    ).where(or_(_d.status == "pending", recent))
                )
            ).one()
        return {k: int(v or 0) for k, v in row._mapping.items()}

    # The workers' side.

    @cached_property
    def _next_due_sql(self) -> DriverStatement:
        return DriverStatement(
            select(seconds_between(db_now(), func.min(_d.next_attempt_at)).label("due")).where(
                _d.status == "pending"
            ),
            self.engine,
        )

    async def next_due_in_s(self) -> float | None:
        """Seconds until the earliest pending delivery is due (≤ 0: one is due now);
        None when nothing is pending. Every dispatcher asks this every
        `PDFPROMPT_WEBHOOK_POLL_MS`, so it runs on the driver (`read_one`)."""
        row = await read_one(self.engine, self._next_due_sql)
        due = None if row is None else row["due"]
        return None if due is None else float(due)

    async def claim(self, owner: str, limit: int, lease_s: float) -> list[ClaimedDelivery]:
        """Up to `limit` due deliveries, each held for `lease_s` by `owner`; an attempt is
        opened for each, and an attempt a dead worker left open is marked interrupted."""
        due = (
            select(_d.id)
            .where(_d.status == "pending", _d.next_attempt_at <= db_now())
            .order_by(_d.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(webhook_deliveries)
            .where(_d.id.in_(due.scalar_subquery()))
            .values(attempts=_d.attempts + 1, lease_owner=owner, next_attempt_at=now_plus(lease_s))
            .returning(
                _d.id,
                _d.webhook_id,
                _d.user_id,
                _d.event,
                _d.subject,
                _d.payload,
                _d.attempts,
                _d.created_at,
                seconds_since(_d.window_start).label("age_s"),
                db_now().label("claimed_at"),
            )
        )
        async with write_transaction(self.engine) as conn:
            rows = (await conn.execute(claim)).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            await conn.execute(
                update(webhook_attempts)
                .where(_a.delivery_id.in_(ids), _a.status_code.is_(None), _a.error.is_(None))
                .values(error=INTERRUPTED)
            )
            await conn.execute(
                insert(webhook_attempts),
                [{"delivery_id": r.id, "number": r.attempts} for r in rows],
            )
            targets = {
                t.id: t
                for t in await conn.execute(
                    select(_w.id, _w.url, _w.secret).where(_w.id.in_({r.webhook_id for r in rows}))
                )
            }
        return [
            ClaimedDelivery(
                id=r.id,
                webhook_id=r.webhook_id,
                user_id=r.user_id,
                event=r.event,
                subject=r.subject,
                payload=r.payload,
                attempt=r.attempts,
                age_s=float(r.age_s),
                created_at=r.created_at,
                url=targets[r.webhook_id].url,
                secret=targets[r.webhook_id].secret,
                claimed_at=r.claimed_at,
            )
            for r in rows
        ]

    async def set_payload(self, delivery_id: int, payload: str) -> str:
        """Fix the delivery's body (first attempt); the body kept when one was already."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(_d.id == delivery_id, _d.payload.is_(None))
                .values(payload=payload)
            )
            kept = (
                await conn.execute(select(_d.payload).where(_d.id == delivery_id))
            ).scalar_one_or_none()
        return kept or payload

    async def record(
        self,
        claimed: ClaimedDelivery,
        owner: str,
        outcome: AttemptOutcome,
        *,
        retry_in_s: float | None,
        disable_after: int,
    ) -> str:
        """Record one attempt: the delivery `succeeded`, is `retrying` in `retry_in_s`, or
        `failed` for good (`retry_in_s` None); `lost` when the claim was no longer held.
        A delivery that fails for good lengthens the endpoint's failure run, and a run of
        `disable_after` disables it; a success ends the run."""
        held = (
            _d.id == claimed.id,
            _d.lease_owner == owner,
            _d.attempts == claimed.attempt,
            _d.status == "pending",
        )
        last: dict[str, Any] = {
            "lease_owner": None,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(webhook_attempts)
                .where(_a.delivery_id == claimed.id, _a.number == claimed.attempt)
                .values(
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                )
            )
            if outcome.delivered:
                result, values = "succeeded", {"status": "succeeded", "finished_at": db_now()}
            elif retry_in_s is not None:
                result, values = "retrying", {"next_attempt_at": now_plus(retry_in_s)}
            else:
                result, values = "failed", {"status": "failed", "finished_at": db_now()}
            done = await conn.execute(
                update(webhook_deliveries).where(*held).values(**last, **values)
            )
            if done.rowcount != 1:
                return "lost"
            if result == "succeeded":
                await conn.execute(
                    update(webhooks)
                    .where(_w.id == claimed.webhook_id)
                    .values(failure_run=0, last_success_at=db_now())
                )
            elif result == "failed":
                run = (
                    await conn.execute(
                        update(webhooks)
                        .where(_w.id == claimed.webhook_id)
                        .values(failure_run=_w.failure_run + 1)
                        .returning(_w.failure_run, _w.disabled_at)
                    )
                ).first()
                if run is not None and run.disabled_at is None and run.failure_run >= disable_after:
                    reason = (
                        f"{run.failure_run} deliveries in a row failed; the last one: "
                        f"{outcome.error}"
                    )
                    await disable_webhook(conn, claimed.webhook_id, reason)
        return result

    async def prune(
        self, older_than_s: float, *, now: datetime | None = None, limit: int = 500
    ) -> int:
        """Delete up to `limit` deliveries (with their attempts) that ended more than
        `older_than_s` ago; returns how many."""
        # The database's clock unless told otherwise: this machine's may be off by hours.
        cutoff = now_plus(-older_than_s) if now is None else now - timedelta(seconds=older_than_s)
        old = (
            select(_d.id)
            .where(_d.finished_at.is_not(None), _d.finished_at < cutoff)
            .order_by(_d.finished_at)
            .limit(limit)
        )
        async with write_transaction(self.engine) as conn:
            ids = list((await conn.execute(old)).scalars())
            if ids:
                await conn.execute(delete(webhook_deliveries).where(_d.id.in_(ids)))
        return len(ids)


async def prune_deliveries(outbox: WebhookOutbox, retention_days: float) -> int:
    """Delete deliveries that ended more than `retention_days` ago
    (PDFPROMPT_WEBHOOK_RETENTION_DAYS; 0 keeps them), in batches; returns how many."""
    return await prune_older_than(outbox.prune, retention_days * 86400, "ended webhook deliveries")


async def disable_webhook(conn: AsyncConnection, webhook_id: str, reason: str, *where: Any) -> None:
    """Disable the endpoint (if `where` holds) and give up its pending deliveries, in the
    caller's transaction: its owner's choice, or a failure run too long."""
    done = await conn.execute(
        update(webhooks)
        .where(_w.id == webhook_id, _w.disabled_at.is_(None), *where)
        .values(disabled_at=db_now(), disabled_reason=reason)
    )
    if done.rowcount == 1:
        await conn.execute(
            update(webhook_deliveries)
            .where(_d.webhook_id == webhook_id, _d.status == "pending")
            .values(
                status="failed",
                finished_at=db_now(),
                lease_owner=None,
                last_error="not delivered: the webhook was disabled",
            )
        )


def _delivery(row: Any, log: Sequence[Attempt]) -> Delivery:
    values = dict(row._mapping)
    if values["status"] != "pending":
        values["next_attempt_at"] = None
    return Delivery(**values, log=tuple(log))

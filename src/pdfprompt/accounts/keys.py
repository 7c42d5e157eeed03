"""Users and API keys. Keys are shown once, stored as a SHA-256 hash, found by a visible prefix."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.accounts.plans import check_default_plan
from pdfprompt.db import (
    announce,
    api_keys,
    conflict_on_duplicate,
    db_now,
    db_now_plus,
    now_plus,
    stored_bytes,
    usage_counters,
    usage_events,
    users,
    write_transaction,
)
from pdfprompt.domain import (
    BUILTIN_PLANS,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    Plan,
    UnauthorizedError,
    new_id,
    period_bounds,
    period_of,
)

KEY_PREFIX = "pp_"
ALL_SCOPES = ("jobs:write", "jobs:read", "files:read", "account")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KEY = re.compile(r"^pp_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")
LAST_USED_RESOLUTION_S = 60.0
ACCOUNTS_CHANNEL = "pdfprompt_accounts"  # NOTIFY: a user or key changed
# What is shown of a key: everything but its hash (and the owner, who is asking).
_LISTED_KEY_COLUMNS = [c for c in api_keys.c if c.name not in ("key_hash", "user_id")]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    plan: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the key they used."""

    user_id: str
    key_id: str
    plan: str
    scopes: tuple[str, ...]
    expires_at: datetime | None = None  # the key's expiry (the database's clock)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    user_id: str
    prefix: str
    secret: str  # the whole key; shown once
    listed: dict[str, Any] = field(default_factory=dict)  # as `list_keys` shows it


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    until: float  # monotonic time the entry stops being trusted


class AccountStore:
    """Users and keys. A key that authenticated is trusted from memory for up to
    `cache_ttl_s` (never past its expiry); revoking it, or disabling or re-planning its user,
    through this store forgets it at once, other processes within the TTL."""

    MAX_CACHED = 10_000

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        cache_ttl_s: float = 300.0,
        plans: dict[str, Plan] | None = None,
        default_plan: str = "enterprise",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.cache_ttl_s = cache_ttl_s
        self.plans = dict(plans if plans is not None else BUILTIN_PLANS)
        check_default_plan(self.plans, default_plan)
        self.default_plan = default_plan
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cache_hits = 0
        self.cache_misses = 0
        self._principals: dict[str, _Cached] = {}  # by the key's hash
        self._touched: dict[str, float] = {}  # key id -> when this process last recorded use
        self._touching: set[asyncio.Task[None]] = set()

    def forget(self, *, user_id: str | None = None, key_id: str | None = None) -> None:
        """Drop cached principals of a user or a key: they are looked up again."""
        self._principals = {
            digest: cached
            for digest, cached in self._principals.items()
            if cached.principal.user_id != user_id and cached.principal.key_id != key_id
        }

    async def aclose(self) -> None:
        """Wait for recordings of key use still being written."""
        if self._touching:
            await asyncio.wait(list(self._touching), timeout=5)

    async def create_user(self, email: str, plan: str) -> User:
        email = email.strip().lower()
        self.plan(plan)
        if not _EMAIL.match(email):
            raise InvalidInputError(f"{email!r} is not an email address", field="email")
        user_id = new_id()
        with conflict_on_duplicate(f"a user with email {email} exists"):
            async with write_transaction(self.engine) as conn:
                await conn.execute(insert(users).values(id=user_id, email=email, plan=plan))
        return await self.get_user(user_id)

    async def get_user(self, user_id: str) -> User:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise NotFoundError(f"user {user_id} not found")
        return User(**row._mapping)

    async def find_user(self, email: str) -> User:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(users).where(users.c.email == email.strip().lower()))
            ).first()
        if row is None:
            raise NotFoundError(f"no user with email {email}")
        return User(**row._mapping)

    async def list_users(self) -> list[User]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.id))).all()
        return [User(**r._mapping) for r in rows]

    def plan(self, name: str) -> Plan:
        """The plan of this name; `InvalidInputError` naming the plans there are."""
        found = self.plans.get(name)
        if found is None:
            raise InvalidInputError(
                f"no plan named {name!r} (plans: {', '.join(self.plans)})", field="plan"
            )
        return found

    def plan_of(self, principal: Principal) -> Plan:
        """The caller's plan. A user left on a plan the plans file no longer has gets the
        default plan (and the operator a warning) rather than no service."""
        found = self.plans.get(principal.plan)
        if found is None:
            log.warning(
                "user %s is on plan %r, which is not configured; applying %r",
                principal.user_id,
                principal.plan,
                self.default_plan,
            )
            return self.plans[self.default_plan]
        return found

    def period(self) -> str:
        """The quota period now (`YYYY-MM`, UTC), from this store's clock."""
        return period_of(self.clock())

    async def set_plan(self, user_id: str, plan: str) -> None:
        """Move a user to another plan; the change is appended to their usage history."""
        self.plan(plan)
        async with write_transaction(self.engine) as conn:
            before = (
                await conn.execute(select(users.c.plan).where(users.c.id == user_id))
            ).scalar_one_or_none()
            if before is None:
                raise NotFoundError(f"user {user_id} not found")
            await conn.execute(update(users).where(users.c.id == user_id).values(plan=plan))
            await self._announce(conn, f"user:{user_id}")
            if before != plan:
                await conn.execute(
                    insert(usage_events).values(
                        user_id=user_id,
                        kind="plan_change",
                        period=self.period(),
                        plan_from=before,
                        plan_to=plan,
                    )
                )
        self.forget(user_id=user_id)

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

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
            await self._announce(conn, f"user:{user_id}")
        self.forget(user_id=user_id)

    async def _announce(self, conn: AsyncConnection, change: str) -> None:
        """Tell the other processes (PostgreSQL NOTIFY, sent at commit) to forget what they
        cached of a user (`user:ID`) or a key (`key:ID`)."""
        await announce(conn, ACCOUNTS_CHANNEL, change)

    def on_change(self, change: str) -> None:
        """A change announced by another process; `*` (after a lost connection, when
        announcements may have been missed) forgets everything."""
        kind, _, ident = change.partition(":")
        if kind == "user":
            self.forget(user_id=ident)
        elif kind == "key":
            self.forget(key_id=ident)
        else:
            self._principals.clear()

    async def create_key(
        self,
        user_id: str,
        *,
        name: str = "",
        scopes: tuple[str, ...] = ALL_SCOPES,
        expires_in_s: float | None = None,
        not_after: datetime | None = None,
        max_live: int | None = None,
    ) -> IssuedKey:
        """A new key. `not_after` (the expiry of the key that asks for this one): the new key
        expires no later; without `expires_in_s` it expires then. `max_live`: refuse
        (`ConflictError`) when the user already has that many keys neither revoked nor
        expired, counted in the transaction that inserts (one user's creations queue on a
        lock of their row)."""
        unknown = set(scopes) - set(ALL_SCOPES)
        if unknown:
            raise InvalidInputError(f"unknown scopes: {', '.join(sorted(unknown))}", field="scopes")
        prefix, secret = _new_key()
        key_id = new_id()
        async with write_transaction(self.engine) as conn:
            owner = select(users.c.id, db_now().label("now")).where(users.c.id == user_id)
            found = (await conn.execute(owner.with_for_update())).first()
            if found is None:
                raise NotFoundError(f"user {user_id} not found")
            expires_at: datetime | db_now_plus | None = (
                None if expires_in_s is None else now_plus(expires_in_s)
            )
            if not_after is not None:
                left_s = (not_after - found.now).total_seconds()
                if expires_in_s is not None and expires_in_s > left_s:
                    raise InvalidInputError(
                        f"expires_in_s: at most {max(0, int(left_s))}, when the key asking "
                        "for this one expires",
                        field="expires_in_s",
                    )
                if expires_in_s is None:
                    expires_at = not_after
            if max_live is not None:
                live = (
                    await conn.execute(
                        select(func.count())
                        .select_from(api_keys)
                        .where(
                            api_keys.c.user_id == user_id,
                            api_keys.c.revoked_at.is_(None),
                            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > db_now()),
                        )
                    )
                ).scalar_one()
                if live >= max_live:
                    raise ConflictError(
                        f"you have {live} live API keys, the most there may be; revoke one "
                        "(DELETE /v1/keys/{id}) to make another"
                    )
            listed = (
                await conn.execute(
                    insert(api_keys)
                    .values(
                        id=key_id,
                        user_id=user_id,
                        prefix=prefix,
                        key_hash=hash_key(secret),
                        name=name,
                        scopes=list(scopes),
                        expires_at=expires_at,
                    )
                    .returning(*_LISTED_KEY_COLUMNS)
                )
            ).one()
        return IssuedKey(key_id, user_id, prefix, secret, dict(listed._mapping))

    async def list_keys(self, user_id: str) -> list[dict[str, Any]]:
        """The user's keys, newest first, without anything secret."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_LISTED_KEY_COLUMNS)
                    .where(api_keys.c.user_id == user_id)
                    .order_by(api_keys.c.id.desc())
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    async def revoke_key(self, key_id: str, user_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.user_id == user_id)
                .values(revoked_at=db_now())
            )
            await self._announce(conn, f"key:{key_id}")
        self.forget(key_id=key_id)
        if result.rowcount != 1:
            raise NotFoundError(f"key {key_id} not found")

    async def authenticate(self, raw: str) -> Principal:
        """The principal for a raw API key; `UnauthorizedError` for any bad, revoked or
        expired key and for disabled users, with the same message so nothing is leaked."""
        match = _KEY.match(raw.strip())
        if match is None:
            raise UnauthorizedError("missing or invalid API key")
        digest = hash_key(raw.strip())
        cached = self._principals.get(digest)
        now = time.monotonic()
        if cached is not None and now < cached.until:
            self.cache_hits += 1
            self._touch_soon(cached.principal.key_id, now)
            return cached.principal
        self.cache_misses += 1
        query = (
            select(
                api_keys.c.id,
                api_keys.c.key_hash,
                api_keys.c.scopes,
                api_keys.c.revoked_at,
                api_keys.c.expires_at,
                users.c.id.label("user_id"),
                users.c.plan,
                users.c.disabled,
                db_now().label("now"),
            )
            .select_from(api_keys.join(users, users.c.id == api_keys.c.user_id))
            .where(api_keys.c.prefix == match.group(1))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        candidate = row.key_hash if row is not None else hash_key("pp_decoy")
        matches = hmac.compare_digest(candidate, digest)
        if (
            row is None
            or not matches
            or row.disabled
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= row.now)
        ):
            raise UnauthorizedError("missing or invalid API key")
        principal = Principal(row.user_id, row.id, row.plan, tuple(row.scopes), row.expires_at)
        trusted_s = self.cache_ttl_s
        if row.expires_at is not None:
            trusted_s = min(trusted_s, (row.expires_at - row.now).total_seconds())
        if len(self._principals) >= self.MAX_CACHED:
            self._principals.clear()
        self._principals[digest] = _Cached(principal, now + trusted_s)
        self._touch_soon(row.id, now)
        return principal

    def _touch_soon(self, key_id: str, now: float) -> None:
        """Record the key's use in the background, at most once a minute per key and process,
        so that requests neither wait for nor queue behind a write."""
        if now - self._touched.get(key_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
            return
        self._touched[key_id] = now
        task = asyncio.get_running_loop().create_task(self._touch(key_id))
        self._touching.add(task)
        task.add_done_callback(self._touching.discard)

    async def _touch(self, key_id: str) -> None:
        try:
            await self._record_use(key_id)
        except Exception as exc:  # a missed last-used time must never fail a request
            log.warning("could not record the use of key %s: %s", key_id, exc)
            self._touched.pop(key_id, None)

    async def _record_use(self, key_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    or_(
                        api_keys.c.last_used_at.is_(None),
                        api_keys.c.last_used_at < now_plus(-LAST_USED_RESOLUTION_S),
                    ),
                )
                .values(last_used_at=db_now())
            )

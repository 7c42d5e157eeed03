"""API keys. Keys are shown once, stored as a SHA-256 hash, found by a visible prefix."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts.last_used import LastUsedRecorder
from pdfprompt.accounts.principals import Principal, PrincipalCache, announce_change
from pdfprompt.db import api_keys, db_now, db_now_plus, now_plus, users, write_transaction
from pdfprompt.domain import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    new_id,
)

KEY_PREFIX = "pp_"
ALL_SCOPES = ("jobs:write", "jobs:read", "files:read", "account")
_KEY = re.compile(r"^pp_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")
# What is shown of a key: everything but its hash (and the owner, who is asking).
_LISTED_KEY_COLUMNS = [c for c in api_keys.c if c.name not in ("key_hash", "user_id")]


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


class KeyRecords:
    """Issuing, listing and revoking a user's keys, and finding who a raw key belongs to
    (from this process's memory while it is trusted). A part of `AccountStore`, which sets
    these attributes."""

    engine: AsyncEngine
    monotonic: Callable[[], float]
    _principals: PrincipalCache
    _last_used: LastUsedRecorder

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
            await announce_change(conn, f"key:{key_id}")
        self._principals.forget(key_id=key_id)
        if result.rowcount != 1:
            raise NotFoundError(f"key {key_id} not found")

    async def authenticate(self, raw: str) -> Principal:
        """The principal for a raw API key; `UnauthorizedError` for any bad, revoked or
        expired key and for disabled users, with the same message so nothing is leaked."""
        match = _KEY.match(raw.strip())
        if match is None:
            raise UnauthorizedError("missing or invalid API key")
        digest = hash_key(raw.strip())
        now = self.monotonic()
        cached = self._principals.recall(digest, now)
        if cached is not None:
            self._last_used.touch_soon(cached.key_id, now)
            return cached
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
        expires_in_s = (
            None if row.expires_at is None else (row.expires_at - row.now).total_seconds()
        )
        self._principals.remember(digest, principal, now, expires_in_s)
        self._last_used.touch_soon(row.id, now)
        return principal

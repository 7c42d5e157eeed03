"""Users and API keys. Keys are shown once, stored as a SHA-256 hash, found by a visible prefix."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import api_keys, db_now, now_plus, users, write_transaction
from pdfprompt.domain import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    new_id,
)

KEY_PREFIX = "pp_"
ALL_SCOPES = ("jobs:write", "jobs:read", "files:read", "account")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KEY = re.compile(r"^pp_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")
LAST_USED_RESOLUTION_S = 60.0


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


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    user_id: str
    prefix: str
    secret: str  # the whole key; shown once


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_user(self, email: str, plan: str) -> User:
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise InvalidInputError(f"{email!r} is not an email address", field="email")
        user_id = new_id()
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(insert(users).values(id=user_id, email=email, plan=plan))
        except IntegrityError as exc:
            raise ConflictError(f"a user with email {email} exists") from exc
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

    async def set_plan(self, user_id: str, plan: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(plan=plan))

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))

    async def create_key(
        self, user_id: str, *, name: str = "", scopes: tuple[str, ...] = ALL_SCOPES
    ) -> IssuedKey:
        unknown = set(scopes) - set(ALL_SCOPES)
        if unknown:
            raise InvalidInputError(f"unknown scopes: {', '.join(sorted(unknown))}", field="scopes")
        prefix, secret = _new_key()
        key_id = new_id()
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    user_id=user_id,
                    prefix=prefix,
                    key_hash=hash_key(secret),
                    name=name,
                    scopes=list(scopes),
                )
            )
        return IssuedKey(key_id, user_id, prefix, secret)

    async def revoke_key(self, key_id: str, user_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.user_id == user_id)
                .values(revoked_at=db_now())
            )
        if result.rowcount != 1:
            raise NotFoundError(f"key {key_id} not found")

    async def authenticate(self, raw: str) -> Principal:
        """The principal for a raw API key; `UnauthorizedError` for any bad, revoked or
        expired key and for disabled users, with the same message so nothing is leaked."""
        match = _KEY.match(raw.strip())
        if match is None:
            raise UnauthorizedError("missing or invalid API key")
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
        matches = hmac.compare_digest(candidate, hash_key(raw.strip()))
        if (
            row is None
            or not matches
            or row.disabled
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= row.now)
        ):
            raise UnauthorizedError("missing or invalid API key")
        await self._touch(row.id)
        return Principal(row.user_id, row.id, row.plan, tuple(row.scopes))

    async def _touch(self, key_id: str) -> None:
        """Record use, at most once a minute per key, so reads do not turn into writes."""
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

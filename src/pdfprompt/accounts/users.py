"""Users: who may hold keys, on which plan, whether they are let in at all, and the
password and admin flag of those who sign in to the web pages."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts.passwords import (
    MAX_PASSWORD_CHARS,
    hash_password,
    needs_rehash,
    verify_nothing,
    verify_password,
)
from pdfprompt.accounts.plans import PlanLookups
from pdfprompt.accounts.principals import PrincipalCache, announce_change
from pdfprompt.db import (
    conflict_on_duplicate,
    db_now,
    sessions,
    usage_events,
    users,
    write_transaction,
)
from pdfprompt.domain import InvalidInputError, NotFoundError, UnauthorizedError, new_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_CHARS = 320  # the column's width, and the longest address RFC 5321 allows

# One answer for every failed sign-in, so that it never tells whether an email is known.
WRONG_PASSWORD = "wrong email or password"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    plan: str
    disabled: bool
    created_at: datetime
    is_admin: bool = False
    has_password: bool = False


# What a `User` is read from: never the password's hash itself.
COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.plan,
    users.c.disabled,
    users.c.created_at,
    users.c.is_admin,
    users.c.password_hash.is_not(None).label("has_password"),
)


def user_of(row: Row[Any]) -> User:
    """The `User` of a row read with `COLUMNS` (and perhaps more)."""
    return User(**{c.key: row._mapping[c.key] for c in COLUMNS})


class UserRecords(PlanLookups):
    """Creating, finding and listing users; moving them between plans and disabling them,
    which forgets their cached principals here and announces it to the other processes.
    A part of `AccountStore`, which sets these attributes."""

    engine: AsyncEngine
    _principals: PrincipalCache

    async def create_user(self, email: str, plan: str, *, password: str | None = None) -> User:
        """A new user; with `password` (checked against the rules first) one who can sign
        in to the web pages, without it one who only uses API keys."""
        email = email.strip().lower()
        self.plan(plan)
        if len(email) > MAX_EMAIL_CHARS:
            raise InvalidInputError(
                f"an email address has at most {MAX_EMAIL_CHARS} characters", field="email"
            )
        if not _EMAIL.match(email):
            raise InvalidInputError(f"{email!r} is not an email address", field="email")
        hashed = None if password is None else await asyncio.to_thread(hash_password, password)
        user_id = new_id()
        with conflict_on_duplicate(f"a user with email {email} exists"):
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    insert(users).values(id=user_id, email=email, plan=plan, password_hash=hashed)
                )
        return await self.get_user(user_id)

    async def get_user(self, user_id: str) -> User:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*COLUMNS).where(users.c.id == user_id))).first()
        if row is None:
            raise NotFoundError(f"user {user_id} not found")
        return user_of(row)

    async def find_user(self, email: str) -> User:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(*COLUMNS).where(users.c.email == email.strip().lower()))
            ).first()
        if row is None:
            raise NotFoundError(f"no user with email {email}")
        return user_of(row)

    async def list_users(self) -> list[User]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(*COLUMNS).order_by(users.c.id))).all()
        return [user_of(r) for r in rows]

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
            await announce_change(conn, f"user:{user_id}")
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
        self._principals.forget(user_id=user_id)

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        """Let a user in or not. Disabling stops their keys (here at once, in other
        processes when they hear of it or their cache's time is up) and ends their browser
        sessions and sign-in links for good: enabling them again brings none back."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
            if disabled:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
                    .values(revoked_at=db_now())
                )
            await announce_change(conn, f"user:{user_id}")
        self._principals.forget(user_id=user_id)

    async def delete_user(self, user_id: str) -> None:
        """Delete the user's row, and by cascade what is left of theirs (keys, sessions,
        usage counters, and anything the caller did not delete first); their cached
        principals are forgotten here and in the other processes. Delete what may be large
        (documents, deliveries, usage history) in batches before, so that this transaction
        stays short. `NotFoundError` when there is no such user."""
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(delete(users).where(users.c.id == user_id))
            await announce_change(conn, f"user:{user_id}")
        self._principals.forget(user_id=user_id)
        if done.rowcount != 1:
            raise NotFoundError(f"user {user_id} not found")

    async def set_admin(self, user_id: str, admin: bool) -> None:
        """Give a user the admin area of the web pages, or take it away."""
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                update(users).where(users.c.id == user_id).values(is_admin=admin)
            )
        if done.rowcount != 1:
            raise NotFoundError(f"user {user_id} not found")

    async def set_password(self, user_id: str, password: str) -> None:
        """Set (or change) a user's password; `InvalidInputError` (field `password`) for one
        the rules refuse. Signing them out elsewhere is the caller's choice (sessions)."""
        hashed = await asyncio.to_thread(hash_password, password)
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=hashed)
            )
        if done.rowcount != 1:
            raise NotFoundError(f"user {user_id} not found")

    async def check_password(self, email: str, password: str) -> User:
        """The user this email and password sign in. One `UnauthorizedError`, with one
        message, for an unknown email, a wrong password, a user without a password and a
        disabled user; an unknown email costs a hash check all the same, so that the time
        taken does not tell either. A hash made with older parameters is made again."""
        if len(password) > MAX_PASSWORD_CHARS or "\x00" in password:
            # No stored password can be it, and no hashing is spent on it (a long one would
            # buy a long hash); the answer is the same whatever the email.
            raise UnauthorizedError(WRONG_PASSWORD)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.id, users.c.password_hash, users.c.disabled).where(
                        users.c.email == email.strip().lower()
                    )
                )
            ).first()
        if row is None or row.password_hash is None:
            await asyncio.to_thread(verify_nothing, password)
            raise UnauthorizedError(WRONG_PASSWORD)
        stored: str = row.password_hash
        if not await asyncio.to_thread(verify_password, stored, password) or row.disabled:
            raise UnauthorizedError(WRONG_PASSWORD)
        if needs_rehash(stored):
            fresh = await asyncio.to_thread(hash_password, password)
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    update(users)
                    .where(users.c.id == row.id, users.c.password_hash == stored)
                    .values(password_hash=fresh)
                )
        return await self.get_user(row.id)

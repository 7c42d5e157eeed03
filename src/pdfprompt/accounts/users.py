"""Users: who may hold keys, on which plan, and whether they are let in at all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts.plans import PlanLookups
from pdfprompt.accounts.principals import PrincipalCache, announce_change
from pdfprompt.db import conflict_on_duplicate, usage_events, users, write_transaction
from pdfprompt.domain import InvalidInputError, NotFoundError, new_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    plan: str
    disabled: bool
    created_at: datetime


class UserRecords(PlanLookups):
    """Creating, finding and listing users; moving them between plans and disabling them,
    which forgets their cached principals here and announces it to the other processes.
    A part of `AccountStore`, which sets these attributes."""

    engine: AsyncEngine
    _principals: PrincipalCache

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
        async with write_transaction(self.engine) as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
            await announce_change(conn, f"user:{user_id}")
        self._principals.forget(user_id=user_id)

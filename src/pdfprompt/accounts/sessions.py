"""Signed-in browser sessions, kept in the database so that they can be revoked.

The cookie's token (256 random bits) is given once, at sign-in; only its SHA-256 is stored.
A session ends when it is revoked, at its absolute expiry (`absolute_s` after sign-in),
after `idle_s` without use, or when its user is disabled. Its last use is written at most
once a minute (`TOUCH_S`), so that a page view does not always write.

Times come from the database's clock, like every other time of the service; tests may give
a `clock` instead, which then decides every time this store reads or writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, delete, false, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.db import (
    Timestamp,
    db_now,
    delete_in_batches,
    now_plus,
    sessions,
    users,
    write_transaction,
)
from pdfprompt.domain import NotFoundError, new_id

TOUCH_S = 60.0  # the last use is written when older than this
MAX_USER_AGENT_CHARS = 200
MAX_ADDRESS_CHARS = 64
_MAX_TOKEN_CHARS = 128  # longer is no token of ours: refused before hashing
_PRUNE_BATCH = 500


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser and who it belongs to."""

    id: str
    user_id: str
    email: str
    plan: str
    is_admin: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    address: str


_COLUMNS = (
    sessions.c.id,
    sessions.c.user_id,
    users.c.email,
    users.c.plan,
    users.c.is_admin,
    sessions.c.created_at,
    sessions.c.last_seen_at,
    sessions.c.expires_at,
    sessions.c.user_agent,
    sessions.c.address,
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(
        self,
        engine: AsyncEngine,
        idle_s: float,
        absolute_s: float,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self.clock = clock

    def _time(self, after_s: float = 0.0) -> ColumnElement[datetime]:
        """Now (plus `after_s` seconds): the database's clock, or the given one."""
        if self.clock is None:
            return now_plus(after_s) if after_s else db_now()
        return literal(self.clock() + timedelta(seconds=after_s), Timestamp)

    def _live(self) -> list[ColumnElement[bool]]:
        """A session not revoked, not past its expiry or its idle time, of a user let in."""
        return [
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > self._time(),
            sessions.c.last_seen_at > self._time(-self.idle_s),
            users.c.disabled == false(),
        ]

    async def create(
        self, user_id: str, user_agent: str = "", address: str = ""
    ) -> tuple[str, WebSession]:
        """A new session for the user (the token for the cookie, given only here, and the
        session); `NotFoundError` for an unknown or disabled user."""
        token = secrets.token_urlsafe(32)
        session_id = new_id()
        now = self._time()
        row = select(
            literal(session_id, String),
            users.c.id,
            literal(_hash(token), String),
            now,
            now,
            self._time(self.absolute_s),
            literal(user_agent[:MAX_USER_AGENT_CHARS], String),
            literal(address[:MAX_ADDRESS_CHARS], String),
        ).where(users.c.id == user_id, users.c.disabled == false())
        columns = [
            "id",
            "user_id",
            "token_hash",
            "created_at",
            "last_seen_at",
            "expires_at",
            "user_agent",
            "address",
        ]
        async with write_transaction(self.engine) as conn:
            made = await conn.execute(insert(sessions).from_select(columns, row))
            if made.rowcount != 1:
                raise NotFoundError(f"user {user_id} not found")
            found = await self._read(conn, sessions.c.id == session_id)
        assert found is not None  # written in this transaction
        return token, found[0]

    @staticmethod
    async def _read(
        conn: AsyncConnection, *where: ColumnElement[bool], stale: ColumnElement[bool] | None = None
    ) -> tuple[WebSession, bool] | None:
        """The session (with its user) where `where` holds, and whether `stale` does."""
        query = (
            select(*_COLUMNS, (false() if stale is None else stale).label("stale"))
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(*where)
        )
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        fields = {k: v for k, v in row._mapping.items() if k != "stale"}
        return WebSession(**fields), bool(row.stale)

    async def resolve(self, token: str) -> WebSession | None:
        """The live session of this token, or None (unknown, revoked, expired, idle too
        long, or its user disabled). Notes its use when the last one is over a minute old."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return None
        stale = sessions.c.last_seen_at < self._time(-TOUCH_S)
        async with self.engine.connect() as conn:
            found = await self._read(
                conn, sessions.c.token_hash == _hash(token), *self._live(), stale=stale
            )
        if found is None:
            return None
        session, is_stale = found
        if not is_stale:
            return session
        async with write_transaction(self.engine) as conn:
            seen = (
                await conn.execute(
                    update(sessions)
                    .where(
                        sessions.c.id == session.id,
                        sessions.c.last_seen_at < self._time(-TOUCH_S),
                    )
                    .values(last_seen_at=self._time())
                    .returning(sessions.c.last_seen_at)
                )
            ).scalar_one_or_none()
        return session if seen is None else dataclasses.replace(session, last_seen_at=seen)

    async def revoke(self, token: str) -> None:
        """End the session of this token (signing out); nothing if there is none."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == _hash(token), sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._time())
            )

    async def revoke_all(self, user_id: str) -> int:
        """End every session of the user ("sign out everywhere"); how many were live."""
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                update(sessions)
                .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._time())
            )
        return done.rowcount

    async def prune(self, *, limit: int = _PRUNE_BATCH) -> int:
        """Delete up to `limit` sessions that have ended (revoked, expired or idle too
        long): nothing can use them again. Returns how many."""
        ended = or_(
            sessions.c.revoked_at.is_not(None),
            sessions.c.expires_at <= self._time(),
            sessions.c.last_seen_at <= self._time(-self.idle_s),
        )
        async with write_transaction(self.engine) as conn:
            ids = list(
                (await conn.execute(select(sessions.c.id).where(ended).limit(limit))).scalars()
            )
            if ids:
                await conn.execute(delete(sessions).where(sessions.c.id.in_(ids)))
        return len(ids)


async def prune_sessions(store: SessionStore) -> int:
    """Delete every ended session, in batches; returns how many (a maintenance pass)."""
    return await delete_in_batches(store.prune, "ended browser sessions")

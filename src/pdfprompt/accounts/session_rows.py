"""The table of browser sessions and what shares it: its rows, how they are written and
read, and which of them are sessions at all (the base of `SessionStore`).

Besides sessions, two other kinds of row live in the table (links.py), each marked by the
start of its `token_hash`, which a session's (64 hex digits) never has, so that a session
lookup can never take one for a session: a one-time sign-in link (`link:`) and the password
choice such a link grants (`pass:`).

Times come from the database's clock, like every other time of the service; a store may be
given a `clock` instead, which then decides every time it reads or writes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, false, insert, literal, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.db import Timestamp, db_now, now_plus, seconds_after, sessions, users
from pdfprompt.domain import NotFoundError, new_id

MAX_USER_AGENT_CHARS = 200
MAX_ADDRESS_CHARS = 64
MAX_TOKEN_CHARS = 128  # longer is no token of ours: refused before hashing
_HASH_CHARS = 64  # the width of the token_hash column
LINK = "link:"  # the token_hash of a sign-in link starts with this
CHOICE = "pass:"  # and that of a password choice with this


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


COLUMNS = (
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
WITH_USER = sessions.join(users, users.c.id == sessions.c.user_id)


def token_hash(token: str) -> str:
    """What a session's row keeps of its token: the SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_hash(token: str) -> str:
    """What a sign-in link's row keeps of its token."""
    return (LINK + token_hash(token))[:_HASH_CHARS]


def choice_of(session_id: str) -> str:
    """The token_hash of the password choice granted to a session."""
    return CHOICE + session_id


def not_a_session() -> ColumnElement[bool]:
    """A sign-in link or a password choice: a row that is no browser session."""
    return or_(
        sessions.c.token_hash.startswith(LINK, autoescape=True),
        sessions.c.token_hash.startswith(CHOICE, autoescape=True),
    )


class SessionRows:
    """Writing and reading the table's rows, on the database's clock or a given one."""

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
            not_(not_a_session()),
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > self._time(),
            sessions.c.last_seen_at > self._time(-self.idle_s),
            users.c.disabled == false(),
        ]

    def _usable(self) -> ColumnElement[bool]:
        """A link or a choice not revoked nor expired, of a user who is let in."""
        return and_(
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > self._time(),
            users.c.disabled == false(),
        )

    async def _start(
        self, conn: AsyncConnection, user_id: str, user_agent: str, address: str
    ) -> tuple[str, WebSession]:
        """Insert a new session on `conn` (inside the caller's transaction)."""
        token = secrets.token_urlsafe(32)
        session_id = new_id()
        made = await conn.execute(
            self._insert(
                session_id,
                user_id,
                token_hash(token),
                self.absolute_s,
                user_agent[:MAX_USER_AGENT_CHARS],
                address[:MAX_ADDRESS_CHARS],
            )
        )
        if made.rowcount != 1:
            raise NotFoundError(f"user {user_id} not found")
        found = await self._read(conn, sessions.c.id == session_id)
        assert found is not None  # written in this transaction
        return token, found[0]

    def _insert(
        self,
        row_id: str,
        user_id: str,
        token_hash: str,
        valid_s: float,
        user_agent: str = "",
        address: str = "",
    ) -> Insert:
        """A row of the table for a user who is let in (none otherwise), valid `valid_s`
        from the one reading of the clock its times are made of."""
        now = select(self._time().label("at")).subquery("clock").c.at
        row = (
            select(
                literal(row_id, String),
                users.c.id,
                literal(token_hash, String),
                now,
                now,
                seconds_after(now, literal(valid_s)),
                literal(user_agent, String),
                literal(address, String),
            )
            .select_from(users.join(now.table, true()))
            .where(users.c.id == user_id, users.c.disabled == false())
        )
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
        return insert(sessions).from_select(columns, row)

    @staticmethod
    async def _read(
        conn: AsyncConnection, *where: ColumnElement[bool], stale: ColumnElement[bool] | None = None
    ) -> tuple[WebSession, bool] | None:
        """The session (with its user) where `where` holds, and whether `stale` does."""
        query = (
            select(*COLUMNS, (false() if stale is None else stale).label("stale"))
            .select_from(WITH_USER)
            .where(*where)
        )
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        fields = {k: v for k, v in row._mapping.items() if k != "stale"}
        return WebSession(**fields), bool(row.stale)

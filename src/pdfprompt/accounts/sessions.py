"""Signed-in browser sessions, kept in the database so that they can be revoked.

The cookie's token (256 random bits) is given once, at sign-in; only its SHA-256 is stored.
A session ends when it is revoked, at its absolute expiry (`absolute_s` after sign-in),
after `idle_s` without use, or when its user is disabled (which also revokes it). Its last
use is written at most once a minute (`TOUCH_S`), so that a page view does not always write.
The one-time sign-in links that start a session are kept in the same table (links.py).

Times come from the database's clock, like every other time of the service; tests may give
a `clock` instead, which then decides every time this store reads or writes.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import and_, delete, not_, or_, select, update

from pdfprompt.accounts.links import SignInLinks
from pdfprompt.accounts.session_rows import (
    COLUMNS,
    MAX_TOKEN_CHARS,
    WITH_USER,
    WebSession,
    not_a_session,
    token_hash,
)
from pdfprompt.db import delete_in_batches, sessions, write_transaction

TOUCH_S = 60.0  # the last use is written when older than this
MAX_LISTED = 50  # the most sessions `list_sessions` shows
_PRUNE_BATCH = 500


class SessionStore(SignInLinks):
    """Browser sessions, and the sign-in links that start them (`SignInLinks`)."""

    async def create(
        self, user_id: str, user_agent: str = "", address: str = ""
    ) -> tuple[str, WebSession]:
        """A new session for the user (the token for the cookie, given only here, and the
        session); `NotFoundError` for an unknown or disabled user."""
        async with write_transaction(self.engine) as conn:
            token, found = await self._start(conn, user_id, user_agent, address)
        return token, found

    async def resolve(self, token: str) -> WebSession | None:
        """The live session of this token, or None (unknown, revoked, expired, idle too
        long, or its user disabled). Notes its use when the last one is over a minute old."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        stale = sessions.c.last_seen_at < self._time(-TOUCH_S)
        async with self.engine.connect() as conn:
            found = await self._read(
                conn, sessions.c.token_hash == token_hash(token), *self._live(), stale=stale
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
        if not token or len(token) > MAX_TOKEN_CHARS:
            return
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == token_hash(token), sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._time())
            )

    async def revoke_all(self, user_id: str) -> int:
        """End every session of the user ("sign out everywhere"), with their unused sign-in
        links and password choices; how many sessions were live."""
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                update(sessions)
                .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._time())
                .returning(not_a_session().label("other"))
            )
            return sum(1 for row in done if not row.other)

    async def list_sessions(self, user_id: str, *, limit: int = MAX_LISTED) -> list[WebSession]:
        """The user's live sessions, the most recently used first (at most `limit`)."""
        query = (
            select(*COLUMNS)
            .select_from(WITH_USER)
            .where(sessions.c.user_id == user_id, *self._live())
            .order_by(sessions.c.last_seen_at.desc(), sessions.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [WebSession(**r._mapping) for r in rows]

    async def prune(self, *, limit: int = _PRUNE_BATCH) -> int:
        """Delete up to `limit` rows that have ended (revoked, expired, or a session idle
        too long): nothing can use them again. Returns how many."""
        ended = or_(
            sessions.c.revoked_at.is_not(None),
            sessions.c.expires_at <= self._time(),
            and_(
                sessions.c.last_seen_at <= self._time(-self.idle_s),
                not_(not_a_session()),
            ),
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

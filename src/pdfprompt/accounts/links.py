"""One-time sign-in links, and the password choice one grants the session it starts.

A link is made by the operator (`pdfprompt users create` without a password, `users link`)
and is valid `LINK_S`; only a mark and the SHA-256 of its token are kept (session_rows.py).
Taking it revokes it and starts a session in one transaction, so it works once whatever
races it; making a new one ends the person's earlier unused ones. The session it starts may
set a password once, within `CHOOSE_PASSWORD_S`, without giving the current one (the person
came with a link because they have none, or forgot it).

Links and choices end with the person's sessions ("sign out everywhere", disabling) and are
pruned once revoked or expired, never for being idle.
"""

from __future__ import annotations

import secrets

from sqlalchemy import false, select, update

from pdfprompt.accounts.session_rows import (
    LINK,
    MAX_TOKEN_CHARS,
    WITH_USER,
    SessionRows,
    WebSession,
    choice_of,
    link_hash,
)
from pdfprompt.db import sessions, users, write_transaction
from pdfprompt.domain import GoneError, NotFoundError, new_id

LINK_S = 24 * 3600.0  # a sign-in link works once, for this long
CHOOSE_PASSWORD_S = 3600.0  # a session started by a link may choose a password this long
_USED = "this sign-in link has been used or has expired"
_UNKNOWN = "no such sign-in link"


class SignInLinks(SessionRows):
    """Links and password choices (a part of `SessionStore`)."""

    async def create_link(self, user_id: str, *, valid_s: float = LINK_S) -> str:
        """A one-time sign-in link's token (given only here) for a user who is let in,
        valid `valid_s`; the user's earlier unused links end. `NotFoundError` for an unknown
        or disabled user."""
        token = secrets.token_urlsafe(32)
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(sessions)
                .where(
                    sessions.c.user_id == user_id,
                    sessions.c.token_hash.startswith(LINK, autoescape=True),
                    sessions.c.revoked_at.is_(None),
                )
                .values(revoked_at=self._time())
            )
            made = await conn.execute(self._insert(new_id(), user_id, link_hash(token), valid_s))
            if made.rowcount != 1:
                raise NotFoundError(f"user {user_id} not found")
        return token

    async def find_link(self, token: str) -> str:
        """The email of the person a sign-in link is for, without using it up;
        `NotFoundError` for a token that never was, `GoneError` for a used, expired or
        replaced link or one of a disabled user."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise NotFoundError(_UNKNOWN)
        query = (
            select(users.c.email, self._usable().label("usable"))
            .select_from(WITH_USER)
            .where(sessions.c.token_hash == link_hash(token))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(_UNKNOWN)
        if not row.usable:
            raise GoneError(_USED)
        return str(row.email)

    async def take_link(
        self, token: str, user_agent: str = "", address: str = ""
    ) -> tuple[str, WebSession]:
        """Use up a sign-in link: in one transaction it is revoked, a session starts (its
        token and the session are returned) and that session may choose a password for
        `CHOOSE_PASSWORD_S`. `NotFoundError` / `GoneError` as `find_link`."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise NotFoundError(_UNKNOWN)
        let_in = (
            select(users.c.id)
            .where(users.c.id == sessions.c.user_id, users.c.disabled == false())
            .correlate(sessions)
        )
        async with write_transaction(self.engine) as conn:
            user_id = (
                await conn.execute(
                    update(sessions)
                    .where(
                        sessions.c.token_hash == link_hash(token),
                        sessions.c.revoked_at.is_(None),
                        sessions.c.expires_at > self._time(),
                        let_in.exists(),
                    )
                    .values(revoked_at=self._time())
                    .returning(sessions.c.user_id)
                )
            ).scalar_one_or_none()
            if user_id is None:
                known = (
                    await conn.execute(
                        select(sessions.c.id).where(sessions.c.token_hash == link_hash(token))
                    )
                ).first()
                if known is None:
                    raise NotFoundError(_UNKNOWN)
                raise GoneError(_USED)
            session_token, session = await self._start(conn, user_id, user_agent, address)
            await conn.execute(
                self._insert(new_id(), user_id, choice_of(session.id), CHOOSE_PASSWORD_S)
            )
        return session_token, session

    async def may_choose_password(self, session_id: str) -> bool:
        """Whether this session, started by a sign-in link, may still set a password
        without giving the current one."""
        query = (
            select(sessions.c.id)
            .select_from(WITH_USER)
            .where(sessions.c.token_hash == choice_of(session_id), self._usable())
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def take_password_choice(self, session_id: str) -> bool:
        """Use up this session's password choice; False when it has none (any more)."""
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                update(sessions)
                .where(
                    sessions.c.token_hash == choice_of(session_id),
                    sessions.c.revoked_at.is_(None),
                    sessions.c.expires_at > self._time(),
                )
                .values(revoked_at=self._time())
            )
        return done.rowcount == 1

"""One-time sign-in links and the password choice they grant, on real SQLite and PostgreSQL,
with a clock the test moves: they work once, expire, end when replaced or when the person is
signed out everywhere or disabled, are never taken for a session, and are pruned when they
end but never for being idle."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore, SessionStore, User
from pdfprompt.db import sessions
from pdfprompt.domain import GoneError, NotFoundError
from tests.support.stores import Clock

HOUR = 3600.0


async def _links_of(
    engine: AsyncEngine, email: str
) -> tuple[AccountStore, User, Clock, SessionStore]:
    """A new person and the store of their sessions and links (an hour's idle time, ten
    hours' life), on a clock the test moves."""
    accounts = AccountStore(engine)
    user = await accounts.create_user(email, "enterprise")
    clock = Clock()
    return (
        accounts,
        user,
        clock,
        SessionStore(engine, idle_s=HOUR, absolute_s=10 * HOUR, clock=clock),
    )


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(sessions))).scalar_one())


async def test_a_link_works_once_and_grants_one_password_choice(engine: AsyncEngine) -> None:
    _, user, _, store = await _links_of(engine, "link@example.com")
    token = await store.create_link(user.id)

    assert await store.resolve(token) is None  # a link is no session
    assert await store.find_link(token) == "link@example.com"
    assert await store.list_sessions(user.id) == []
    # Two browsers race to use it: exactly one gets a session.
    raced = await asyncio.gather(
        store.take_link(token, "Browser A", "10.0.0.1"),
        store.take_link(token, "Browser B", "10.0.0.2"),
        return_exceptions=True,
    )
    won = [r for r in raced if isinstance(r, tuple)]
    assert len(won) == 1 and sum(isinstance(r, GoneError) for r in raced) == 1
    session_token, session = won[0]
    assert (await store.resolve(session_token)) == session
    with pytest.raises(GoneError):
        await store.find_link(token)
    with pytest.raises(NotFoundError):
        await store.find_link("never-made")
    with pytest.raises(NotFoundError):
        await store.take_link("x" * 129)

    assert await store.may_choose_password(session.id)
    other, other_session = await store.create(user.id)
    assert not await store.may_choose_password(other_session.id)  # only the link's session
    assert await store.take_password_choice(session.id)
    assert not await store.take_password_choice(session.id)  # once
    assert not await store.may_choose_password(session.id)
    listed = await store.list_sessions(user.id)
    assert {s.id for s in listed} == {session.id, other_session.id}
    assert await store.revoke_all(user.id) == 2  # the two sessions; links are not counted
    assert await store.resolve(other) is None


async def test_links_expire_are_replaced_and_end_with_the_person(engine: AsyncEngine) -> None:
    accounts, user, clock, store = await _links_of(engine, "expiry@example.com")

    old = await store.create_link(user.id)
    new = await store.create_link(user.id)
    with pytest.raises(GoneError):  # replaced
        await store.take_link(old)
    clock.advance(23 * HOUR)  # far past the idle time: a link does not idle out
    assert await store.prune() == 1  # only the replaced one
    assert await store.find_link(new) == "expiry@example.com"
    clock.advance(HOUR + 1)
    with pytest.raises(GoneError):
        await store.take_link(new)

    signed_out = await store.create_link(user.id)
    await store.revoke_all(user.id)
    with pytest.raises(GoneError):
        await store.find_link(signed_out)

    disabled = await store.create_link(user.id)
    await accounts.set_disabled(user.id, True)
    with pytest.raises(GoneError):
        await store.take_link(disabled)
    await accounts.set_disabled(user.id, False)
    with pytest.raises(GoneError):  # enabling again brings no link back
        await store.take_link(disabled)
    with pytest.raises(NotFoundError):
        await store.create_link("no-such-user")

    # The choice a link grants expires within the hour.
    session_token, session = await store.take_link(await store.create_link(user.id))
    clock.advance(HOUR + 1)
    assert not await store.may_choose_password(session.id)
    assert not await store.take_password_choice(session.id)
    assert await store.resolve(session_token) is None  # idle for over an hour, too

    assert await store.prune() > 0
    assert await _rows(engine) == 0  # everything ended is pruned

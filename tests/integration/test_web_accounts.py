"""Passwords and browser sessions on real SQLite and PostgreSQL: argon2id hashes, one answer
for every failed sign-in, the password rules, and sessions that end when revoked, idle,
expired or their user is disabled."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import (
    MAX_EMAIL_CHARS,
    WRONG_PASSWORD,
    AccountStore,
    SessionStore,
    prune_sessions,
)
from pdfprompt.db import now_plus, sessions, users
from pdfprompt.domain import InvalidInputError, NotFoundError, UnauthorizedError
from tests.support.stores import Clock

PASSWORD = "correct horse battery"
HOUR = 3600.0


async def _stored_hash(engine: AsyncEngine, user_id: str) -> str | None:
    async with engine.connect() as conn:
        value = (
            await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))
        ).scalar_one()
    return None if value is None else str(value)


async def test_the_password_is_kept_as_an_argon2id_hash(engine: AsyncEngine) -> None:
    store = AccountStore(engine)
    user = await store.create_user("hash@example.com", "enterprise", password=PASSWORD)
    stored = await _stored_hash(engine, user.id)
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert user.has_password and not user.is_admin
    assert (await store.check_password(" HASH@example.com ", PASSWORD)).id == user.id

    await store.set_password(user.id, "another long password")
    changed = await _stored_hash(engine, user.id)
    assert changed is not None and changed.startswith("$argon2id$") and changed != stored
    assert (await store.check_password("hash@example.com", "another long password")).id == user.id
    with pytest.raises(UnauthorizedError):
        await store.check_password("hash@example.com", PASSWORD)


async def test_every_failed_sign_in_gets_the_same_answer(engine: AsyncEngine) -> None:
    store = AccountStore(engine)
    await store.create_user("right@example.com", "enterprise", password=PASSWORD)
    keys_only = await store.create_user("keys@example.com", "enterprise")
    assert not keys_only.has_password
    off = await store.create_user("off@example.com", "enterprise", password=PASSWORD)
    await store.set_disabled(off.id, True)

    attempts = [
        ("right@example.com", "wrong password!!"),  # wrong password
        ("nobody@example.com", PASSWORD),  # unknown email
        ("keys@example.com", PASSWORD),  # no password set
        ("off@example.com", PASSWORD),  # disabled, with the right password
        ("right@example.com", "x" * 1025),  # could never be a password
        ("right@example.com", PASSWORD + "\x00"),
    ]
    for email, password in attempts:
        with pytest.raises(UnauthorizedError) as caught:
            await store.check_password(email, password)
        assert caught.value.message == WRONG_PASSWORD, email
    await store.set_disabled(off.id, False)
    assert (await store.check_password("off@example.com", PASSWORD)).id == off.id


@pytest.mark.parametrize(
    "password", ["too short", "x" * 1025, "long enough\x00but NUL"], ids=["short", "long", "nul"]
)
async def test_passwords_the_rules_refuse(engine: AsyncEngine, password: str) -> None:
    store = AccountStore(engine)
    user = await store.create_user("rules@example.com", "enterprise")
    with pytest.raises(InvalidInputError) as caught:
        await store.set_password(user.id, password)
    assert caught.value.field == "password"
    with pytest.raises(InvalidInputError) as caught:
        await store.create_user("rules2@example.com", "enterprise", password=password)
    assert caught.value.field == "password"
    assert await _stored_hash(engine, user.id) is None
    with pytest.raises(NotFoundError):  # refused before anything was written
        await store.find_user("rules2@example.com")
    await store.set_password(user.id, "x" * 1024)  # the longest allowed
    assert (await store.check_password("rules@example.com", "x" * 1024)).id == user.id


async def test_an_email_longer_than_its_column_is_refused_naming_the_field(
    engine: AsyncEngine,
) -> None:
    """Both databases refuse the same way (SQLite would store it, PostgreSQL would fail)."""
    store = AccountStore(engine)
    longest = "a" * (MAX_EMAIL_CHARS - len("@example.com")) + "@example.com"
    assert (await store.create_user(longest, "enterprise")).email == longest
    with pytest.raises(InvalidInputError) as caught:
        await store.create_user("b" + longest, "enterprise")
    assert caught.value.field == "email"
    with pytest.raises(NotFoundError):
        await store.find_user("b" + longest)


async def test_admin_flag(engine: AsyncEngine) -> None:
    store = AccountStore(engine)
    user = await store.create_user("admin@example.com", "enterprise")
    await store.set_admin(user.id, True)
    assert (await store.get_user(user.id)).is_admin
    assert [u.is_admin for u in await store.list_users()] == [True]
    await store.set_admin(user.id, False)
    assert not (await store.find_user("admin@example.com")).is_admin
    with pytest.raises(NotFoundError):
        await store.set_admin("no-such-user", True)
    with pytest.raises(NotFoundError):
        await store.set_password("no-such-user", PASSWORD)


async def test_a_session_resolves_and_its_token_is_kept_only_hashed(engine: AsyncEngine) -> None:
    accounts = AccountStore(engine)
    user = await accounts.create_user("s@example.com", "starter", password=PASSWORD)
    store = SessionStore(engine, idle_s=72 * HOUR, absolute_s=30 * 24 * HOUR)
    token, made = await store.create(user.id, "Browser/1.0 " + "x" * 500, "203.0.113.9")
    assert (made.user_id, made.email, made.plan, made.is_admin) == (
        user.id,
        "s@example.com",
        "starter",
        False,
    )
    assert len(made.user_agent) == 200 and made.address == "203.0.113.9"
    assert made.expires_at - made.created_at == timedelta(days=30)
    found = await store.resolve(token)
    assert found is not None and found.id == made.id
    assert await store.resolve(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert await store.resolve("") is None and await store.resolve("x" * 10_000) is None

    async with engine.connect() as conn:
        rows = (await conn.execute(select(sessions))).all()
    assert len(rows) == 1
    stored = rows[0]._mapping
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in stored.values())

    with pytest.raises(NotFoundError):
        await store.create("no-such-user")


async def test_revoked_idle_and_expired_sessions_are_refused(engine: AsyncEngine) -> None:
    accounts = AccountStore(engine)
    user = await accounts.create_user("t@example.com", "enterprise", password=PASSWORD)
    clock = Clock()
    store = SessionStore(engine, idle_s=2 * HOUR, absolute_s=5 * HOUR, clock=clock)

    revoked, _ = await store.create(user.id)
    await store.revoke(revoked)
    assert await store.resolve(revoked) is None

    idle, _ = await store.create(user.id)
    used, _ = await store.create(user.id)
    clock.advance(1.5 * HOUR)
    seen = await store.resolve(used)  # its use moves its idle time on
    assert seen is not None and seen.last_seen_at == clock.now
    clock.advance(30)
    again = await store.resolve(used)  # used again within a minute: not written again
    assert again is not None and again.last_seen_at == seen.last_seen_at
    clock.advance(1 * HOUR - 30)
    assert await store.resolve(idle) is None  # 2.5 h without use
    # Used every 1.5 h or sooner, it never idles, but ends 5 h after sign-in.
    assert await store.resolve(used) is not None  # at 2.5 h
    clock.advance(1.5 * HOUR)
    assert await store.resolve(used) is not None  # at 4 h
    clock.advance(0.9 * HOUR)
    assert await store.resolve(used) is not None  # at 4.9 h
    clock.advance(0.1 * HOUR)
    assert await store.resolve(used) is None  # at 5 h: absolute expiry

    assert await store.prune() == 3  # revoked, idle, expired
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(sessions))).scalar() == 0


async def test_the_database_clock_ends_sessions(engine: AsyncEngine) -> None:
    """Without a clock, the times are the database's: moved here by rewriting the rows."""
    accounts = AccountStore(engine)
    user = await accounts.create_user("db@example.com", "enterprise")
    store = SessionStore(engine, idle_s=HOUR, absolute_s=10 * HOUR)
    idle, made_idle = await store.create(user.id)
    old, made_old = await store.create(user.id)
    fresh, _ = await store.create(user.id)
    stale, made_stale = await store.create(user.id)
    async with engine.begin() as conn:
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == made_idle.id)
            .values(last_seen_at=now_plus(-2 * HOUR))
        )
        await conn.execute(
            update(sessions).where(sessions.c.id == made_old.id).values(expires_at=now_plus(-1))
        )
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == made_stale.id)
            .values(last_seen_at=now_plus(-120))
        )
    assert await store.resolve(idle) is None
    assert await store.resolve(old) is None
    assert await store.resolve(fresh) is not None
    touched = await store.resolve(stale)
    assert touched is not None and touched.last_seen_at > made_stale.last_seen_at
    assert await prune_sessions(store) == 2


async def test_disabled_users_and_sign_out_everywhere(engine: AsyncEngine) -> None:
    accounts = AccountStore(engine)
    alice = await accounts.create_user("alice@example.com", "enterprise")
    bob = await accounts.create_user("bob@example.com", "enterprise")
    store = SessionStore(engine, idle_s=HOUR, absolute_s=10 * HOUR)
    alice_tokens = [(await store.create(alice.id))[0] for _ in range(3)]
    bob_token, _ = await store.create(bob.id)

    assert await store.revoke_all(alice.id) == 3
    assert [await store.resolve(t) for t in alice_tokens] == [None, None, None]
    assert await store.resolve(bob_token) is not None  # only alice's ended

    await accounts.set_disabled(bob.id, True)
    assert await store.resolve(bob_token) is None
    with pytest.raises(NotFoundError):  # no new session for a disabled user
        await store.create(bob.id)
    await accounts.set_disabled(bob.id, False)
    assert await store.resolve(bob_token) is None  # disabling ended it for good
    bob_token, _ = await store.create(bob.id)

    await accounts.set_admin(bob.id, True)
    resolved = await store.resolve(bob_token)
    assert resolved is not None and resolved.is_admin


async def test_a_hash_made_with_older_parameters_is_made_again(engine: AsyncEngine) -> None:
    store = AccountStore(engine)
    user = await store.create_user("old@example.com", "enterprise")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user.id).values(password_hash=weak))
    assert (await store.check_password("old@example.com", PASSWORD)).id == user.id
    renewed = await _stored_hash(engine, user.id)
    assert renewed is not None and renewed != weak and renewed.startswith("$argon2id$")
    assert (await store.check_password("old@example.com", PASSWORD)).id == user.id

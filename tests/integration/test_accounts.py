"""API keys on real SQLite and PostgreSQL: authentication, the in-process cache, revocation,
disabled users, expiry and the last-used time; the rate limiter shared through Redis when
Redis cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore, RedisRateLimiter, ShareStore
from pdfprompt.db import api_keys, now_plus, shares
from pdfprompt.domain import (
    ConflictError,
    GoneError,
    InvalidInputError,
    JobType,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
)
from pdfprompt.queue import NewJob, StoredFile, job_store_for
from tests.support.databases import free_port
from tests.support.waiting import ManualClock


async def _last_used(engine: AsyncEngine, key_id: str) -> object:
    async with engine.connect() as conn:
        return (
            await conn.execute(select(api_keys.c.last_used_at).where(api_keys.c.id == key_id))
        ).scalar_one()


async def test_key_authenticates_and_is_then_served_from_memory(engine: AsyncEngine) -> None:
    store = AccountStore(engine)
    user = await store.create_user("k@example.com", "enterprise")
    key = await store.create_key(user.id, name="ci", scopes=("jobs:read",))
    first = await store.authenticate(key.secret)
    assert (first.user_id, first.key_id, first.scopes) == (user.id, key.id, ("jobs:read",))
    assert (store.cache_hits, store.cache_misses) == (0, 1)
    assert await store.authenticate(key.secret) == first
    assert (store.cache_hits, store.cache_misses) == (1, 1)
    await store.aclose()
    assert await _last_used(engine, key.id) is not None  # recorded in the background
    with pytest.raises(UnauthorizedError):
        await store.authenticate(key.secret[:-1] + ("A" if key.secret[-1] != "A" else "B"))


async def test_revoking_or_disabling_through_the_store_stops_the_key_at_once(
    engine: AsyncEngine,
) -> None:
    store = AccountStore(engine)
    user = await store.create_user("r@example.com", "enterprise")
    revoked, other = await store.create_key(user.id), await store.create_key(user.id)
    await store.authenticate(revoked.secret)
    await store.authenticate(other.secret)
    await store.revoke_key(revoked.id, user.id)
    with pytest.raises(UnauthorizedError):
        await store.authenticate(revoked.secret)
    assert (await store.authenticate(other.secret)).key_id == other.id
    await store.set_disabled(user.id, True)
    with pytest.raises(UnauthorizedError):
        await store.authenticate(other.secret)
    await store.set_disabled(user.id, False)
    assert (await store.authenticate(other.secret)).key_id == other.id
    await store.aclose()


async def test_another_process_revoking_reaches_this_one_within_the_ttl(
    engine: AsyncEngine,
) -> None:
    clock = ManualClock()
    api = AccountStore(engine, cache_ttl_s=30, monotonic=clock)  # the API node
    admin = AccountStore(engine)  # e.g. `pdfprompt keys revoke` in another process
    user = await admin.create_user("t@example.com", "enterprise")
    key = await admin.create_key(user.id)
    await api.authenticate(key.secret)
    await admin.revoke_key(key.id, user.id)
    clock.advance(29.9)
    assert (await api.authenticate(key.secret)).key_id == key.id  # still trusted from memory
    assert (api.cache_hits, api.cache_misses) == (1, 1)
    clock.advance(0.1)  # the TTL is up
    with pytest.raises(UnauthorizedError):
        await api.authenticate(key.secret)
    await api.aclose()


async def test_an_expiring_key_is_not_trusted_past_its_expiry(engine: AsyncEngine) -> None:
    """Trusted from memory while it lives, however long the TTL, and not a moment after."""
    clock = ManualClock()
    store = AccountStore(engine, cache_ttl_s=300, monotonic=clock)
    user = await store.create_user("e@example.com", "enterprise")
    key = await store.create_key(user.id)

    async def expire_in(seconds: float) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                update(api_keys).where(api_keys.c.id == key.id).values(expires_at=now_plus(seconds))
            )

    await expire_in(60)
    await store.authenticate(key.secret)
    clock.advance(55)
    assert (await store.authenticate(key.secret)).key_id == key.id
    assert (store.cache_hits, store.cache_misses) == (1, 1)  # from memory
    # The minute passes, for the database and for this process.
    await expire_in(-1)
    clock.advance(5)
    with pytest.raises(UnauthorizedError):
        await store.authenticate(key.secret)
    assert store.cache_hits == 1
    await store.aclose()


async def test_a_share_link_expires(engine: AsyncEngine) -> None:
    store, links = job_store_for(engine), ShareStore(engine)
    user = (await AccountStore(engine).create_user("l@example.com", "enterprise")).id
    other = (await AccountStore(engine).create_user("o@example.com", "enterprise")).id
    await store.enqueue(NewJob(user, JobType.HTML, "<p>x</p>", {}, 1))
    [job] = await store.claim_jobs("w", 1, lease_s=30)
    file_id = await store.finish_job(job.id, "w", user, StoredFile("k", 3, 1, "0" * 64, "a.pdf"))
    with pytest.raises(NotFoundError):
        await links.create(other, file_id, expires_in_s=600, max_downloads=None)
    link = await links.create(user, file_id, expires_in_s=600, max_downloads=None)
    assert link.token is not None
    assert await links.take_download(link.token) == (user, file_id)
    async with engine.begin() as conn:
        await conn.execute(update(shares).values(expires_at=now_plus(-1)))
    with pytest.raises(GoneError):
        await links.take_download(link.token)
    with pytest.raises(NotFoundError):
        await links.take_download("never-made")
    with pytest.raises(NotFoundError):
        await links.revoke(other, link.id)
    [listed] = await links.list(user, file_id)
    assert listed.downloads == 1 and listed.token is None


async def test_concurrent_key_creation_never_passes_the_live_key_limit(
    engine: AsyncEngine,
) -> None:
    """Twenty creations at once against a limit of five live keys (two already live, one
    revoked and one expired, which do not count): exactly three more are made."""
    store = AccountStore(engine)
    user = await store.create_user("many@example.com", "enterprise")
    await store.create_key(user.id)
    await store.create_key(user.id)
    await store.revoke_key((await store.create_key(user.id)).id, user.id)
    expired = await store.create_key(user.id, expires_in_s=60)
    async with engine.begin() as conn:
        await conn.execute(
            update(api_keys).where(api_keys.c.id == expired.id).values(expires_at=now_plus(-1))
        )
    made = await asyncio.gather(
        *(store.create_key(user.id, max_live=5) for _ in range(20)), return_exceptions=True
    )
    assert sum(1 for m in made if not isinstance(m, BaseException)) == 3
    assert all(isinstance(m, ConflictError) for m in made if isinstance(m, BaseException))


async def test_a_key_expires_no_later_than_the_key_that_made_it(engine: AsyncEngine) -> None:
    store = AccountStore(engine)
    user = await store.create_user("brief@example.com", "enterprise")
    parent = await store.authenticate((await store.create_key(user.id, expires_in_s=600)).secret)
    assert parent.expires_at is not None
    child = await store.create_key(user.id, not_after=parent.expires_at)
    assert child.listed["expires_at"] == parent.expires_at
    shorter = await store.create_key(user.id, expires_in_s=60, not_after=parent.expires_at)
    assert shorter.listed["expires_at"] < parent.expires_at
    with pytest.raises(InvalidInputError) as caught:
        await store.create_key(user.id, expires_in_s=3600, not_after=parent.expires_at)
    assert caught.value.field == "expires_in_s"
    await store.aclose()


async def _used_ago(engine: AsyncEngine, key_id: str, seconds: float) -> object:
    """The key's last use written `seconds` into the past; what is now recorded."""
    async with engine.begin() as conn:
        await conn.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now_plus(-seconds))
        )
    return await _last_used(engine, key_id)


async def test_a_keys_last_use_is_written_at_most_once_a_minute(engine: AsyncEngine) -> None:
    """A process writes a key's use again only a minute after it last did (on its own clock,
    moved by hand here), and the database keeps a time under a minute old whoever writes
    it (another process, on the database's clock)."""
    clock = ManualClock()
    api = AccountStore(engine, monotonic=clock)
    user = await api.create_user("used@example.com", "enterprise")
    key = await api.create_key(user.id)
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        """The store's writes of a key's use (not this test's own)."""
        if statement.startswith("UPDATE api_keys SET last_used_at") and "IS NULL" in statement:
            writes.append(statement)

    async def use(store: AccountStore) -> object:
        """Authenticate with the key; its use as recorded once the write (if any) is done."""
        await store.authenticate(key.secret)
        await store.aclose()
        return await _last_used(engine, key.id)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        first = await use(api)
        assert first is not None and len(writes) == 1
        clock.advance(59.9)
        assert await use(api) == first and len(writes) == 1  # not written: under a minute
        recent = await _used_ago(engine, key.id, 30)
        clock.advance(0.1)
        assert await use(api) == recent and len(writes) == 2  # written; but 30 s old is kept
        assert await use(AccountStore(engine)) == recent and len(writes) == 3  # as for others
        old = await _used_ago(engine, key.id, 61)
        clock.advance(60)
        later = await use(api)
        assert len(writes) == 4 and later > old  # type: ignore[operator]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_requests_pass_and_a_warning_is_logged_when_redis_cannot_be_reached(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Three requests against a limit of one a minute: through Redis at least one is
    refused (three span at most two minutes), with Redis unreachable (a closed port on
    loopback) all three pass, each with a warning saying the limit was not applied."""
    name = f"rate-test:{uuid.uuid4().hex}"

    async def refusals(limiter: RedisRateLimiter) -> int:
        refused = 0
        try:
            for _ in range(3):
                try:
                    await limiter.hit(name, 1)
                except RateLimitedError:
                    refused += 1
        finally:
            await limiter.aclose()
        return refused

    assert await refusals(RedisRateLimiter(redis_url)) >= 1
    unreachable = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="pdfprompt.accounts.ratelimit"):
        assert await refusals(unreachable) == 0
    assert unreachable.errors == 3
    warnings = [r for r in caplog.records if r.name == "pdfprompt.accounts.ratelimit"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 3
    assert all(r.getMessage().startswith("rate limit not applied (Redis: ") for r in warnings)

"""Webhook deliveries on real SQLite and PostgreSQL, sent over real HTTP to receivers on
loopback addresses: events enqueued by the transaction that ends the job, signatures,
retries with every attempt recorded, an attempt that raises, a claim whose worker died,
disabling after a failure run, quota warnings, redelivery, and pruning by age. Where
webhooks may be sent is `test_webhook_addresses.py`."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import create_engine, now_plus, webhook_attempts, webhook_deliveries, webhooks
from pdfprompt.domain import RetryPolicy, public_only
from pdfprompt.queue import job_store_for
from pdfprompt.settings import Settings
from pdfprompt.webhooks import (
    AttemptOutcome,
    Delivery,
    DeliveryConfig,
    IpAddress,
    WebhookDispatcher,
    WebhookOutbox,
    WebhookSender,
    WebhookStore,
    any_address,
    event_composer,
    prune_deliveries,
    verify,
)
from tests.support.leases import end_delivery_wait, expire_delivery_lease
from tests.support.receiver import Receiver, Step
from tests.support.store import reserving_job
from tests.support.waiting import until
from tests.support.webhooks import (
    FAST,
    deliver_all,
    dispatcher_for,
    ended_job,
    hook_user,
)


async def test_job_events_are_delivered_signed_to_subscribed_endpoints(
    engine: AsyncEngine,
) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver, Receiver() as other:
        hook = await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        await hooks.create(user, other.url, ["job.canceled"])
        assert hook.secret is not None and hook.secret.startswith("whsec_")
        done = await ended_job(jobs, user, "succeeded")
        failed = await ended_job(jobs, user, "failed")
        canceled = await ended_job(jobs, user, "canceled")
        stranger = await hook_user(engine, "other@example.com")
        await ended_job(jobs, stranger, "succeeded")  # another user's job: no event here
        await deliver_all(dispatcher_for(outbox))
        hits = receiver.wait_for(2)
        assert len(hits) == 2 and len(other.wait_for(1)) == 1
    assert sorted((h.event["type"], h.event["data"]["subject"]) for h in hits) == sorted(
        [("job.succeeded", done), ("job.failed", failed)]
    )
    assert other.hits[0].event["type"] == "job.canceled"
    assert other.hits[0].event["data"] == {"subject": canceled, "user": user}
    for hit in hits:
        assert hit.headers["Content-Type"] == "application/json"
        assert hit.headers["Pdfprompt-Event"] == hit.event["type"]
        assert hit.headers["Pdfprompt-Delivery"] == hit.event["id"]
        assert verify(hook.secret, hit.body, hit.headers["Pdfprompt-Signature"])
        assert not verify(hook.secret, hit.body + b" ", hit.headers["Pdfprompt-Signature"])
        assert not verify("whsec_wrong", hit.body, hit.headers["Pdfprompt-Signature"])
    listed, cursor = await outbox.deliveries(user, hook.id)
    assert cursor is None
    assert [(d.status, d.attempts, d.last_status_code) for d in listed] == [
        ("succeeded", 1, 200)
    ] * 2
    assert [a.status_code for a in listed[0].log] == [200]
    assert (await hooks.get(user, hook.id)).last_success_at is not None


async def test_three_failures_then_success_is_four_recorded_attempts(
    engine: AsyncEngine,
) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver(script=[500, 500, 503]) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox))
        hits = receiver.wait_for(4)
    assert len(hits) == 4
    assert len({h.body for h in hits}) == 1  # every retry sends the same event
    assert [h.headers["Pdfprompt-Attempt"] for h in hits] == ["1", "2", "3", "4"]
    assert all(verify(str(hook.secret), h.body, h.headers["Pdfprompt-Signature"]) for h in hits)
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 4, None)
    assert [a.number for a in delivery.log] == [1, 2, 3, 4]
    assert [a.status_code for a in delivery.log] == [500, 500, 503, 200]
    assert delivery.log[0].error == "the endpoint answered HTTP 500: receiver says no"
    assert all(a.duration_ms is not None for a in delivery.log)
    assert (await hooks.get(user, hook.id)).failure_run == 0


async def test_an_attempt_that_raises_is_a_failed_attempt_until_the_window_ends(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)

    async def broken(host: str, port: int) -> list[IpAddress]:
        raise RuntimeError("the resolver broke")

    hook = await hooks.create(user, "http://broken.example:9/hook", ["job.succeeded"])
    await ended_job(jobs, user)
    await deliver_all(dispatcher_for(outbox, resolve=broken, window_s=2.0, disable_after=1))
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert delivery.status == "failed" and delivery.attempts >= 2  # retried, then given up
    assert {a.error for a in delivery.log} == {
        "could not deliver: RuntimeError: the resolver broke"
    }
    ended = await hooks.get(user, hook.id)
    assert ended.disabled_at is not None
    assert "the resolver broke" in str(ended.disabled_reason)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def _retrying(
    outbox: WebhookOutbox, user: str, hook_id: str, attempt: int
) -> Delivery | None:
    """The endpoint's one delivery, once its attempt number `attempt` failed and it waits
    to be tried again."""
    [delivery], _ = await outbox.deliveries(user, hook_id)
    recorded = delivery.log and delivery.log[-1].status_code is not None
    if not (recorded and delivery.status == "pending" and delivery.attempts == attempt):
        return None
    # The delivery was read before its attempts: read it again, now that it is recorded.
    [delivery], _ = await outbox.deliveries(user, hook_id)
    return delivery


async def _window_left(
    engine: AsyncEngine, delivery_id: int, window_s: float, left_s: float
) -> None:
    """The delivery's retry window started long enough ago that `left_s` of it is left."""
    async with engine.begin() as conn:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(window_start=now_plus(left_s - window_s))
        )


async def test_retries_are_spaced_by_the_backoff_until_the_window_would_be_passed(
    engine: AsyncEngine,
) -> None:
    """Each failed attempt waits the policy's delay for its number (the base doubled each
    time; the jitter keeps half to all of it), read on the database's clock: the delivery is
    due again no earlier than that after its attempt started, and no later than that after
    the test saw it recorded. A retry that would fall past the window is not made: with
    2.1 bases of the window left the second retry (at most 2 bases away) is made, with 1.9
    left the third (at least 2 away) is not, and the delivery fails for good."""
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    base_s, window_s = 600.0, 100 * 600.0
    policy = RetryPolicy(base_s=base_s, cap_s=100 * base_s)
    with Receiver(script=[500] * 5) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await ended_job(jobs, user)
        dispatcher = dispatcher_for(outbox, retry=policy, window_s=window_s)
        task = asyncio.create_task(dispatcher.run())
        try:
            for attempt, left_s in ((1, 2.1 * base_s), (2, 1.9 * base_s)):
                waiting = await until(
                    lambda n=attempt: _retrying(outbox, user, hook.id, n), 30, f"attempt {attempt}"
                )
                due_in_s = await outbox.next_due_in_s()
                assert waiting.next_attempt_at is not None and due_in_s is not None
                since_start_s = (
                    waiting.next_attempt_at - waiting.log[-1].started_at
                ).total_seconds()
                ceiling_s = base_s * 2 ** (attempt - 1)
                assert due_in_s <= ceiling_s and since_start_s >= ceiling_s / 2, (attempt, due_in_s)
                await _window_left(engine, waiting.id, window_s, left_s)
                await end_delivery_wait(engine, waiting.id)
            ended = await until(
                lambda: _delivery_ended(outbox, user, hook.id), 10, "the delivery ended"
            )
        finally:
            dispatcher.stop()
            await asyncio.wait_for(task, 10)
            await dispatcher.sender.aclose()
        assert len(receiver.hits) == 3
    assert (ended.status, ended.attempts, ended.next_attempt_at) == ("failed", 3, None)
    assert [a.status_code for a in ended.log] == [500, 500, 500]


async def _delivery_ended(outbox: WebhookOutbox, user: str, hook_id: str) -> Delivery | None:
    [delivery], _ = await outbox.deliveries(user, hook_id)
    return delivery if delivery.status != "pending" else None


async def test_redirects_are_followed_re_sending_the_post_up_to_five() -> None:
    """Five redirects (each of 301, 302, 303, 307 and 308) are followed, every hop a POST
    of the same body; a sixth is not: the attempt fails naming the limit, and the place the
    sixth points to is never asked."""
    sender = WebhookSender(timeout_s=5.0, rule=any_address)
    body, headers = b'{"id": "1"}', {"Content-Type": "application/json"}
    try:
        with Receiver() as end:
            codes = (301, 302, 303, 307, 308)
            hops: list[Step] = [
                ("redirect", code, f"{end.url}?hop={n}") for n, code in enumerate(codes, 1)
            ]
            end.script = hops
            followed = await sender.send(end.url, body, headers)
            hits = list(end.hits)
        with Receiver() as end:
            end.script = [("redirect", 307, f"{end.url}?hop={n}") for n in range(1, 7)]
            stopped = await sender.send(end.url, body, headers)
            too_many = list(end.hits)
    finally:
        await sender.aclose()
    assert (followed.status_code, followed.error) == (200, None)
    assert [h.path for h in hits] == ["/hook"] + [f"/hook?hop={n}" for n in range(1, 6)]
    assert {(h.method, h.body) for h in hits} == {("POST", body)}
    assert (stopped.status_code, stopped.error, stopped.permanent) == (
        None,
        "more than 5 redirects",
        False,
    )
    assert [h.path for h in too_many] == ["/hook"] + [f"/hook?hop={n}" for n in range(1, 6)]


async def test_a_delivery_whose_worker_died_is_sent_again_after_its_lease(
    engine: AsyncEngine,
) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await ended_job(jobs, user)
        # A worker claims it and dies before answering: nothing is recorded.
        [held] = await outbox.claim("dead", 10, lease_s=30)
        assert await outbox.claim("w1", 10, lease_s=30) == []  # held while the lease runs
        await expire_delivery_lease(engine, held.id)
        await deliver_all(dispatcher_for(outbox))
        [hit] = receiver.wait_for(1)
    assert hit.headers["Pdfprompt-Attempt"] == "2"
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert delivery.log[0].error is not None and delivery.log[0].error.startswith("interrupted")
    assert delivery.log[1].status_code == 200
    # The dead worker's late answer changes nothing.
    late = AttemptOutcome(None, "timed out", 10)
    assert await outbox.record(held, "dead", late, retry_in_s=1, disable_after=5) == "lost"
    [again], _ = await outbox.deliveries(user, hook.id)
    assert again.status == "succeeded"


async def test_a_run_of_failed_deliveries_disables_the_endpoint(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver(script=[500] * 20) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        await ended_job(jobs, user)
        await ended_job(jobs, user, "failed")
        # No retry window: each delivery fails for good at its first failed attempt.
        await deliver_all(dispatcher_for(outbox, window_s=0, disable_after=2))
        assert len(receiver.hits) == 2
        disabled = await hooks.get(user, hook.id)
        assert disabled.disabled_at is not None and disabled.failure_run == 2
        assert disabled.disabled_reason is not None
        assert disabled.disabled_reason.startswith("2 deliveries in a row failed")
        assert "HTTP 500" in disabled.disabled_reason
        await ended_job(jobs, user)  # no delivery for a disabled endpoint
        listed, _ = await outbox.deliveries(user, hook.id)
        assert [d.status for d in listed] == ["failed", "failed"]
        # Enabled again, it starts a new run and hears the next event.
        enabled = await hooks.update(user, hook.id, enabled=True)
        assert (enabled.disabled_at, enabled.failure_run) == (None, 0)
        receiver.script.clear()
        await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox, window_s=0, disable_after=2))
        assert len(receiver.wait_for(3)) == 3
    listed, _ = await outbox.deliveries(user, hook.id)
    assert [d.status for d in listed] == ["succeeded", "failed", "failed"]


async def test_disabling_gives_up_pending_deliveries(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])
    await ended_job(jobs, user)
    await hooks.update(user, hook.id, enabled=False)
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert delivery.status == "failed"
    assert delivery.last_error == "not delivered: the webhook was disabled"
    assert await outbox.claim("w1", 10, lease_s=30) == []


async def test_a_quota_warning_is_an_event(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["quota.warning"])
    for _ in range(5):  # the 4th of 5 crosses 80 %
        await jobs.enqueue(reserving_job(user, limit=5, max_attempts=1))
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert (delivery.event, delivery.subject, delivery.status) == (
        "quota.warning",
        "2026-11",
        "pending",
    )


async def test_a_quota_warning_carries_the_usage_against_the_users_plan(
    engine: AsyncEngine,
) -> None:
    """The event's data as the service composes it: the usage looked up in the accounts
    when the event is first sent."""
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    accounts = AccountStore(engine)
    user = await hook_user(engine)
    period = accounts.period()
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["quota.warning"])
        for _ in range(4):  # the 4th of 5 crosses 80 %
            await jobs.enqueue(
                reserving_job(user, limit=5, period=period, plan="enterprise", max_attempts=1)
            )
        compose = event_composer(jobs.get, accounts.user_usage, "http://pdf.example/")
        sender = WebhookSender(timeout_s=5.0, rule=any_address)
        config = DeliveryConfig(retry=FAST, timeout_s=5.0, poll_s=0.05)
        await deliver_all(WebhookDispatcher(outbox, sender, compose, config, owner="w1"))
        [hit] = receiver.wait_for(1)
    usage = await accounts.usage(user, accounts.plan("enterprise"))
    assert usage["pdfs"]["reserved"] == 4
    assert hit.event["type"] == "quota.warning"
    assert hit.event["data"] == {"period": period, "usage": json.loads(json.dumps(usage))}


async def test_retention_prunes_deliveries_ended_past_the_days_set(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await ended_job(jobs, user)
    await ended_job(jobs, user)
    await hooks.update(user, hook.id, enabled=False)  # both end, failed
    assert await prune_deliveries(outbox, 30) == 0  # ended just now
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(finished_at=now_plus(-31 * 86400)))
    assert await prune_deliveries(outbox, 0) == 0  # 0: kept for ever
    assert await prune_deliveries(outbox, 30) == 2
    assert await outbox.deliveries(user, hook.id) == ([], None)


async def test_ended_deliveries_are_pruned_by_age_in_batches(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded"])
        for _ in range(3):
            await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox))
        receiver.wait_for(3)
    pending = await hooks.create(user, "http://192.0.2.1/hook", ["job.failed"])
    await ended_job(jobs, user, "failed")
    now = datetime.now(UTC)
    assert await outbox.prune(30 * 86400, now=now) == 0  # nothing is a month old yet
    later = now + timedelta(days=31)
    assert await outbox.prune(30 * 86400, now=later, limit=2) == 2
    assert await outbox.prune(30 * 86400, now=later, limit=2) == 1
    assert await outbox.prune(30 * 86400, now=later, limit=2) == 0
    async with engine.connect() as conn:
        left = (await conn.execute(select(webhook_deliveries.c.status))).scalars().all()
        attempts = (
            await conn.execute(select(func.count()).select_from(webhook_attempts))
        ).scalar_one()
    assert left == ["pending"]  # a delivery still being tried is never pruned
    assert attempts == 0  # the pruned deliveries' attempts went with them
    listed, _ = await outbox.deliveries(user, pending.id)
    assert len(listed) == 1


async def test_the_event_body_is_fixed_at_the_first_attempt(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver(script=[500]) as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded"])
        job_id = await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox))
        first, second = receiver.wait_for(2)
    event = json.loads(first.body)
    assert first.body == second.body
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["data"]["subject"] == job_id and event["created_at"].endswith("Z")


@pytest.mark.parametrize("status", ["pending", "succeeded"])
async def test_redelivery_of_an_ended_delivery(engine: AsyncEngine, status: str) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await ended_job(jobs, user)
        if status == "succeeded":
            await deliver_all(dispatcher_for(outbox))
            receiver.wait_for(1)
        [delivery], _ = await outbox.deliveries(user, hook.id)
        if status == "pending":
            with pytest.raises(Exception, match="still pending"):
                await outbox.redeliver(user, hook.id, delivery.id)
            return
        again = await outbox.redeliver(user, hook.id, delivery.id)
        assert again.status == "pending"
        await deliver_all(dispatcher_for(outbox))
        first, second = receiver.wait_for(2)
    assert first.body == second.body  # the same event, sent again
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


async def test_the_backlog_operators_see(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await ended_job(jobs, user)
    await ended_job(jobs, user)
    assert await outbox.backlog() == {"pending": 2, "due": 2, "succeeded": 0, "failed": 0}
    await deliver_all(dispatcher_for(outbox, rule=public_only))  # refused: failed for good
    assert await outbox.backlog() == {"pending": 0, "due": 0, "succeeded": 0, "failed": 2}


async def test_the_dispatcher_learns_when_the_next_delivery_is_due(engine: AsyncEngine) -> None:
    """What every dispatcher asks at each look: nothing pending (None), one due now (<= 0),
    or how long until the earliest pending one; ended deliveries do not count."""
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    assert await outbox.next_due_in_s() is None
    await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await ended_job(jobs, user)
    due = await outbox.next_due_in_s()
    assert due is not None and due <= 0
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(next_attempt_at=now_plus(60)))
    later = await outbox.next_due_in_s()
    assert later is not None and 50 < later < 61  # the clock's arithmetic may add microseconds
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(status="failed"))
    assert await outbox.next_due_in_s() is None


async def test_two_dispatchers_send_each_event_once(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        for n in range(30):
            await ended_job(jobs, user, "failed" if n % 3 == 0 else "succeeded")
        await asyncio.gather(
            deliver_all(dispatcher_for(outbox, owner="a", concurrency=4)),
            deliver_all(dispatcher_for(outbox, owner="b", concurrency=4)),
        )
        # Every delivery is recorded after its endpoint answered, and the receiver records a
        # request before it answers: every request sent is in `hits`.
        hits = list(receiver.hits)
    ids = [h.headers["Pdfprompt-Delivery"] for h in hits]
    assert len(ids) == len(set(ids)) == 30
    assert all(h.headers["Pdfprompt-Attempt"] == "1" for h in hits)
    assert await outbox.backlog() == {"pending": 0, "due": 0, "succeeded": 30, "failed": 0}


async def test_deleting_an_endpoint_while_an_attempt_to_it_is_recorded_does_not_deadlock(
    pg_url: str,
) -> None:
    """PostgreSQL, where writers run at once: a dispatcher recording an attempt changes the
    attempt, then the delivery, then the endpoint's failure run; an endpoint deleted at that
    moment waits for it and is then gone, and neither side fails."""
    engine = create_engine(Settings(database_url=pg_url))
    try:
        jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
        user = await hook_user(engine)
        hook = await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])
        await ended_job(jobs, user)
        [claimed] = await outbox.claim("w1", 1, lease_s=30)
        async with engine.connect() as recording:
            await recording.execute(
                update(webhook_attempts)
                .where(webhook_attempts.c.delivery_id == claimed.id)
                .values(error="refused")
            )
            await recording.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == claimed.id)
                .values(lease_owner=None)
            )
            deleting = asyncio.create_task(hooks.delete(user, hook.id))
            await _until_a_statement_waits_for_a_lock(engine, "DELETE")
            await recording.execute(
                update(webhooks).where(webhooks.c.id == hook.id).values(failure_run=1)
            )
            await recording.commit()
        await asyncio.wait_for(deleting, 30)
        assert await hooks.list_webhooks(user) == []
        async with engine.connect() as conn:
            left = await conn.scalar(select(func.count()).select_from(webhook_deliveries))
        assert left == 0
    finally:
        await engine.dispose()


async def _until_a_statement_waits_for_a_lock(engine: AsyncEngine, verb: str) -> None:
    """Until another session's statement starting with `verb` waits on a row lock."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE :verb AND pid <> pg_backend_pid()"
    )
    for _ in range(300):
        async with engine.connect() as conn:
            if await conn.scalar(waiting, {"verb": f"{verb}%"}):
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {verb} came to wait for a lock")


async def test_a_worker_whose_clock_is_hours_off_signs_with_the_database_time(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the fault bed (docs/reliability.md): a worker whose wall clock ran five
    hours ahead signed its deliveries with that time, which receivers refuse."""
    import pdfprompt.webhooks.dispatcher as dispatcher_module

    class SkewedClock:
        monotonic = staticmethod(dispatcher_module.time.monotonic)

        @staticmethod
        def time() -> float:
            return datetime.now(UTC).timestamp() + 5 * 3600

    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await ended_job(jobs, user, "succeeded")
        monkeypatch.setattr(dispatcher_module, "time", SkewedClock)
        await deliver_all(dispatcher_for(outbox))
        [hit] = receiver.wait_for(1)
    assert hook.secret is not None
    assert verify(hook.secret, hit.body, hit.headers["Pdfprompt-Signature"])

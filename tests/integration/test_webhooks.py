"""Webhook deliveries on real SQLite and PostgreSQL, sent over real HTTP to receivers on
loopback addresses: events enqueued by the transaction that ends the job, signatures,
retries with every attempt recorded, address refusals (also after a redirect), a claim
whose worker died, disabling after a failure run, and pruning by age."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import (
    AccountStore,
    AttemptOutcome,
    DeliveryConfig,
    WebhookDispatcher,
    WebhookSender,
    WebhookStore,
    public_only,
    verify,
)
from pdfprompt.accounts.delivery import AddressRule, IpAddress, any_address
from pdfprompt.db import now_plus, webhook_attempts, webhook_deliveries
from pdfprompt.domain import JobError, JobType, RetryPolicy
from pdfprompt.queue import JobStore, NewJob, StoredFile, job_store_for
from tests.receiver import Receiver

FAST = RetryPolicy(base_s=0.05, cap_s=0.2)


async def _compose(event: str, user_id: str, subject: str) -> dict[str, Any]:
    return {"subject": subject, "user": user_id}


def _dispatcher(
    store: WebhookStore,
    rule: AddressRule = any_address,
    owner: str = "w1",
    verify: ssl.SSLContext | bool = True,
    **config: Any,
) -> WebhookDispatcher:
    config.setdefault("retry", FAST)
    config.setdefault("timeout_s", 5.0)
    config.setdefault("poll_s", 0.05)
    sender = WebhookSender(timeout_s=config["timeout_s"], rule=rule, verify=verify)
    return WebhookDispatcher(store, sender, _compose, DeliveryConfig(**config), owner=owner)


async def _deliver_all(dispatcher: WebhookDispatcher) -> None:
    try:
        await asyncio.wait_for(dispatcher.run(burst=True), 30)
    finally:
        await dispatcher.sender.aclose()


async def _user(engine: AsyncEngine, email: str = "hook@example.com") -> str:
    return (await AccountStore(engine).create_user(email, "enterprise")).id


async def _job(store: JobStore, user: str, end: str = "succeeded") -> str:
    """A job that ended with `end`: succeeded, failed or canceled."""
    new = NewJob(user_id=user, type=JobType.HTML, input="<p>h</p>", options={}, max_attempts=1)
    job = await store.enqueue(new)
    if end == "canceled":
        await store.cancel_job(job.id, user)
        return job.id
    [claimed] = await store.claim_jobs("w", 1, lease_s=30)
    if end == "succeeded":
        await store.finish_job(claimed.id, "w", user, StoredFile("k", 10, 1, "0" * 64, "a.pdf"))
    else:
        await store.fail_job(claimed.id, "w", JobError("invalid_input", "bad"), retry_in_s=None)
    return job.id


async def test_job_events_are_delivered_signed_to_subscribed_endpoints(
    engine: AsyncEngine,
) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver() as receiver, Receiver() as other:
        hook = await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        await hooks.create(user, other.url, ["job.canceled"])
        assert hook.secret is not None and hook.secret.startswith("whsec_")
        done = await _job(jobs, user, "succeeded")
        failed = await _job(jobs, user, "failed")
        canceled = await _job(jobs, user, "canceled")
        stranger = await _user(engine, "other@example.com")
        await _job(jobs, stranger, "succeeded")  # another user's job: no event here
        await _deliver_all(_dispatcher(hooks))
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
    listed, cursor = await hooks.deliveries(user, hook.id)
    assert cursor is None
    assert [(d.status, d.attempts, d.last_status_code) for d in listed] == [
        ("succeeded", 1, 200)
    ] * 2
    assert [a.status_code for a in listed[0].log] == [200]
    assert (await hooks.get(user, hook.id)).last_success_at is not None


async def test_three_failures_then_success_is_four_recorded_attempts(
    engine: AsyncEngine,
) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver(script=[500, 500, 503]) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(hooks))
        hits = receiver.wait_for(4)
    assert len(hits) == 4
    assert len({h.body for h in hits}) == 1  # every retry sends the same event
    assert [h.headers["Pdfprompt-Attempt"] for h in hits] == ["1", "2", "3", "4"]
    assert all(verify(str(hook.secret), h.body, h.headers["Pdfprompt-Signature"]) for h in hits)
    [delivery], _ = await hooks.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 4, None)
    assert [a.number for a in delivery.log] == [1, 2, 3, 4]
    assert [a.status_code for a in delivery.log] == [500, 500, 503, 200]
    assert delivery.log[0].error == "the endpoint answered HTTP 500: receiver says no"
    assert all(a.duration_ms is not None for a in delivery.log)
    assert (await hooks.get(user, hook.id)).failure_run == 0


async def test_private_addresses_are_refused_after_resolving(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        # By name: `localhost` passes the URL check and is refused once resolved.
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        hook = await hooks.create(user, by_name, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(hooks, rule=public_only))
        await asyncio.sleep(0.2)
        assert receiver.hits == []
    [delivery], _ = await hooks.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # refused: not retried
    assert delivery.last_error is not None
    assert "refused: localhost resolves to" in delivery.last_error
    assert "private or loopback" in delivery.last_error


def _only(*allowed: str) -> AddressRule:
    permitted = {ipaddress.ip_address(a) for a in allowed}

    def rule(address: IpAddress) -> bool:
        return address in permitted

    return rule


async def test_every_redirect_is_checked_before_it_is_followed(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver("127.0.0.2") as inside:
        with Receiver(script=[("redirect", 307, inside.url)]) as front:
            hook = await hooks.create(user, front.url, ["job.succeeded"])
            await _job(jobs, user)
            # 127.0.0.1 is allowed, the address it redirects to is not.
            await _deliver_all(_dispatcher(hooks, rule=_only("127.0.0.1")))
            assert len(front.hits) == 1
        await asyncio.sleep(0.2)
        assert inside.hits == []
        [delivery], _ = await hooks.deliveries(user, hook.id)
        assert delivery.status == "failed"
        assert delivery.last_error == "refused: 127.0.0.2 is a private or loopback address"
        # Allowed, the redirect is followed with the same signed body.
        with Receiver(script=[("redirect", 308, inside.url)]) as front:
            second = await hooks.create(user, front.url, ["job.failed"])
            await _job(jobs, user, "failed")
            await _deliver_all(_dispatcher(hooks, rule=_only("127.0.0.1", "127.0.0.2")))
        [hit] = inside.wait_for(1)
    assert hit.event["type"] == "job.failed"
    assert verify(str(second.secret), hit.body, hit.headers["Pdfprompt-Signature"])


async def test_a_delivery_whose_worker_died_is_sent_again_after_its_lease(
    engine: AsyncEngine,
) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        # A worker claims it and dies before answering: nothing is recorded.
        [held] = await hooks.claim("dead", 10, lease_s=0.5)
        assert await hooks.claim("w1", 10, lease_s=30) == []  # held while the lease runs
        await asyncio.sleep(0.7)
        await _deliver_all(_dispatcher(hooks))
        [hit] = receiver.wait_for(1)
    assert hit.headers["Pdfprompt-Attempt"] == "2"
    [delivery], _ = await hooks.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert delivery.log[0].error is not None and delivery.log[0].error.startswith("interrupted")
    assert delivery.log[1].status_code == 200
    # The dead worker's late answer changes nothing.
    late = AttemptOutcome(None, "timed out", 10)
    assert await hooks.record(held, "dead", late, retry_in_s=1, disable_after=5) == "lost"
    [again], _ = await hooks.deliveries(user, hook.id)
    assert again.status == "succeeded"


async def test_a_run_of_failed_deliveries_disables_the_endpoint(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver(script=[500] * 20) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        await _job(jobs, user)
        await _job(jobs, user, "failed")
        # No retry window: each delivery fails for good at its first failed attempt.
        await _deliver_all(_dispatcher(hooks, window_s=0, disable_after=2))
        assert len(receiver.hits) == 2
        disabled = await hooks.get(user, hook.id)
        assert disabled.disabled_at is not None and disabled.failure_run == 2
        assert disabled.disabled_reason is not None
        assert disabled.disabled_reason.startswith("2 deliveries in a row failed")
        assert "HTTP 500" in disabled.disabled_reason
        await _job(jobs, user)  # no delivery for a disabled endpoint
        listed, _ = await hooks.deliveries(user, hook.id)
        assert [d.status for d in listed] == ["failed", "failed"]
        # Enabled again, it starts a new run and hears the next event.
        enabled = await hooks.update(user, hook.id, enabled=True)
        assert (enabled.disabled_at, enabled.failure_run) == (None, 0)
        receiver.script.clear()
        await _job(jobs, user)
        await _deliver_all(_dispatcher(hooks, window_s=0, disable_after=2))
        assert len(receiver.wait_for(3)) == 3
    listed, _ = await hooks.deliveries(user, hook.id)
    assert [d.status for d in listed] == ["succeeded", "failed", "failed"]


async def test_disabling_gives_up_pending_deliveries(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])
    await _job(jobs, user)
    await hooks.update(user, hook.id, enabled=False)
    [delivery], _ = await hooks.deliveries(user, hook.id)
    assert delivery.status == "failed"
    assert delivery.last_error == "not delivered: the webhook was disabled"
    assert await hooks.claim("w1", 10, lease_s=30) == []


async def test_a_quota_warning_is_an_event(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["quota.warning"])
    for _ in range(5):  # the 4th of 5 crosses 80 %
        await jobs.enqueue(
            NewJob(
                user_id=user,
                type=JobType.HTML,
                input="<p>q</p>",
                options={},
                plan="classic",
                quota_period="2026-11",
                quota_limit=5,
                max_attempts=1,
            )
        )
    [delivery], _ = await hooks.deliveries(user, hook.id)
    assert (delivery.event, delivery.subject, delivery.status) == (
        "quota.warning",
        "2026-11",
        "pending",
    )


async def test_ended_deliveries_are_pruned_by_age_in_batches(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded"])
        for _ in range(3):
            await _job(jobs, user)
        await _deliver_all(_dispatcher(hooks))
        receiver.wait_for(3)
    pending = await hooks.create(user, "http://192.0.2.1/hook", ["job.failed"])
    await _job(jobs, user, "failed")
    now = datetime.now(UTC)
    assert await hooks.prune(30 * 86400, now=now) == 0  # nothing is a month old yet
    later = now + timedelta(days=31)
    assert await hooks.prune(30 * 86400, now=later, limit=2) == 2
    assert await hooks.prune(30 * 86400, now=later, limit=2) == 1
    assert await hooks.prune(30 * 86400, now=later, limit=2) == 0
    async with engine.connect() as conn:
        left = (await conn.execute(select(webhook_deliveries.c.status))).scalars().all()
        attempts = (
            await conn.execute(select(func.count()).select_from(webhook_attempts))
        ).scalar_one()
    assert left == ["pending"]  # a delivery still being tried is never pruned
    assert attempts == 0  # the pruned deliveries' attempts went with them
    listed, _ = await hooks.deliveries(user, pending.id)
    assert len(listed) == 1


async def test_the_event_body_is_fixed_at_the_first_attempt(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver(script=[500]) as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded"])
        job_id = await _job(jobs, user)
        await _deliver_all(_dispatcher(hooks))
        first, second = receiver.wait_for(2)
    event = json.loads(first.body)
    assert first.body == second.body
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["data"]["subject"] == job_id and event["created_at"].endswith("Z")


@pytest.mark.parametrize("status", ["pending", "succeeded"])
async def test_redelivery_of_an_ended_delivery(engine: AsyncEngine, status: str) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        if status == "succeeded":
            await _deliver_all(_dispatcher(hooks))
            receiver.wait_for(1)
        [delivery], _ = await hooks.deliveries(user, hook.id)
        if status == "pending":
            with pytest.raises(Exception, match="still pending"):
                await hooks.redeliver(user, hook.id, delivery.id)
            return
        again = await hooks.redeliver(user, hook.id, delivery.id)
        assert again.status == "pending"
        await _deliver_all(_dispatcher(hooks))
        first, second = receiver.wait_for(2)
    assert first.body == second.body  # the same event, sent again
    [delivery], _ = await hooks.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


@pytest.mark.parametrize("certified", ["localhost", "elsewhere.example"])
async def test_https_endpoints_are_checked_against_their_host_name(
    engine: AsyncEngine, certified: str
) -> None:
    """The connection goes to the address that was checked, and the certificate is still
    verified against the URL's host name."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(certified).configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver(tls=server_tls, name="localhost") as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(hooks, verify=client_tls, window_s=0))
    [delivery], _ = await hooks.deliveries(user, hook.id)
    if certified == "localhost":
        assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)
        [hit] = receiver.hits
        assert hit.headers["Host"] == f"localhost:{receiver.url.split(':')[2].split('/')[0]}"
        assert verify(str(hook.secret), hit.body, hit.headers["Pdfprompt-Signature"])
    else:
        assert delivery.status == "failed" and receiver.hits == []
        assert (
            delivery.last_error is not None and "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
        )


async def test_the_backlog_operators_see(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await _job(jobs, user)
    await _job(jobs, user)
    assert await hooks.backlog() == {"pending": 2, "due": 2, "succeeded": 0, "failed": 0}
    await _deliver_all(_dispatcher(hooks, rule=public_only))  # refused: failed for good
    assert await hooks.backlog() == {"pending": 0, "due": 0, "succeeded": 0, "failed": 2}


async def test_the_dispatcher_learns_when_the_next_delivery_is_due(engine: AsyncEngine) -> None:
    """What every dispatcher asks at each look: nothing pending (None), one due now (<= 0),
    or how long until the earliest pending one; ended deliveries do not count."""
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    assert await hooks.next_due_in_s() is None
    await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await _job(jobs, user)
    due = await hooks.next_due_in_s()
    assert due is not None and due <= 0
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(next_attempt_at=now_plus(60)))
    later = await hooks.next_due_in_s()
    assert later is not None and 50 < later <= 60
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(status="failed"))
    assert await hooks.next_due_in_s() is None


async def test_two_dispatchers_send_each_event_once(engine: AsyncEngine) -> None:
    jobs, hooks = job_store_for(engine), WebhookStore(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        for n in range(30):
            await _job(jobs, user, "failed" if n % 3 == 0 else "succeeded")
        await asyncio.gather(
            _deliver_all(_dispatcher(hooks, owner="a", concurrency=4)),
            _deliver_all(_dispatcher(hooks, owner="b", concurrency=4)),
        )
        await asyncio.sleep(0.2)
        hits = list(receiver.hits)
    ids = [h.headers["Pdfprompt-Delivery"] for h in hits]
    assert len(ids) == len(set(ids)) == 30
    assert all(h.headers["Pdfprompt-Attempt"] == "1" for h in hits)
    assert await hooks.backlog() == {"pending": 0, "due": 0, "succeeded": 30, "failed": 0}

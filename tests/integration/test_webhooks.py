"""Webhook deliveries on real SQLite and PostgreSQL, sent over real HTTP to receivers on
loopback addresses: events enqueued by the transaction that ends the job, signatures,
retries with every attempt recorded, address refusals (also after a redirect, and for a
name that resolves to loopback only at delivery), stored URLs the client cannot use, an
attempt that raises, a claim whose worker died, disabling after a failure run, and pruning
by age."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import now_plus, webhook_attempts, webhook_deliveries, webhooks
from pdfprompt.domain import InvalidInputError, JobError, JobType, RetryPolicy
from pdfprompt.queue import JobStore, NewJob, StoredFile, job_store_for
from pdfprompt.webhooks import (
    AddressRule,
    AttemptOutcome,
    DeliveryConfig,
    IpAddress,
    Resolve,
    WebhookDispatcher,
    WebhookOutbox,
    WebhookSender,
    WebhookStore,
    any_address,
    check_url,
    event_composer,
    prune_deliveries,
    public_only,
    verify,
)
from tests.support.hostile_urls import HOSTILE, resolve_names
from tests.support.receiver import Receiver

FAST = RetryPolicy(base_s=0.05, cap_s=0.2)


async def _compose(event: str, user_id: str, subject: str) -> dict[str, Any]:
    return {"subject": subject, "user": user_id}


def _dispatcher(
    outbox: WebhookOutbox,
    rule: AddressRule = any_address,
    owner: str = "w1",
    verify: ssl.SSLContext | bool = True,
    resolve: Resolve | None = None,
    **config: Any,
) -> WebhookDispatcher:
    config.setdefault("retry", FAST)
    config.setdefault("timeout_s", 5.0)
    config.setdefault("poll_s", 0.05)
    resolving = {"resolve": resolve} if resolve is not None else {}
    sender = WebhookSender(timeout_s=config["timeout_s"], rule=rule, verify=verify, **resolving)
    return WebhookDispatcher(outbox, sender, _compose, DeliveryConfig(**config), owner=owner)


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
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
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
        await _deliver_all(_dispatcher(outbox))
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
    user = await _user(engine)
    with Receiver(script=[500, 500, 503]) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox))
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


async def test_private_addresses_are_refused_after_resolving(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        # By name: `localhost` passes the URL check and is refused once resolved.
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        hook = await hooks.create(user, by_name, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox, rule=public_only))
        await asyncio.sleep(0.2)
        assert receiver.hits == []
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # refused: not retried
    assert delivery.last_error == (
        "refused: localhost is a loopback name (RFC 6761) for 127.0.0.1, a special-purpose "
        "address (Loopback, 127.0.0.0/8); an operator may allow such addresses with "
        "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE=true"
    )


def _only(*allowed: str) -> AddressRule:
    permitted = {ipaddress.ip_address(a) for a in allowed}

    def rule(address: IpAddress) -> bool:
        return address in permitted

    return rule


async def test_every_redirect_is_checked_before_it_is_followed(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver("127.0.0.2") as inside:
        with Receiver(script=[("redirect", 307, inside.url)]) as front:
            hook = await hooks.create(user, front.url, ["job.succeeded"])
            await _job(jobs, user)
            # 127.0.0.1 is allowed, the address it redirects to is not.
            await _deliver_all(_dispatcher(outbox, rule=_only("127.0.0.1")))
            assert len(front.hits) == 1
        await asyncio.sleep(0.2)
        assert inside.hits == []
        [delivery], _ = await outbox.deliveries(user, hook.id)
        assert delivery.status == "failed"
        assert delivery.last_error is not None
        assert delivery.last_error.startswith(
            "refused: 127.0.0.2 is a special-purpose address (Loopback, 127.0.0.0/8);"
        )
        # Allowed, the redirect is followed with the same signed body.
        with Receiver(script=[("redirect", 308, inside.url)]) as front:
            second = await hooks.create(user, front.url, ["job.failed"])
            await _job(jobs, user, "failed")
            await _deliver_all(_dispatcher(outbox, rule=_only("127.0.0.1", "127.0.0.2")))
        [hit] = inside.wait_for(1)
    assert hit.event["type"] == "job.failed"
    assert verify(str(second.secret), hit.body, hit.headers["Pdfprompt-Signature"])


async def test_a_redirect_to_a_url_the_rules_refuse_ends_the_delivery(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver("127.0.0.2") as inside:
        port = inside.base.rsplit(":", 1)[1]
        locations = [
            f"http://0x7f000002:{port}/",
            "http://0177.0.0.1/",
            "http://xn--/",
            "gopher://x/",
        ]
        with Receiver(script=[("redirect", 307, where) for where in locations]) as front:
            made = [await hooks.create(user, front.url, ["job.succeeded"]) for _ in locations]
            await _job(jobs, user)  # one event for each of the endpoints
            await _deliver_all(_dispatcher(outbox, rule=_only("127.0.0.1")))
            assert len(front.hits) == len(locations)
        assert inside.hits == []
    ended = [(await outbox.deliveries(user, hook.id))[0][0] for hook in made]
    assert [(d.status, d.attempts) for d in ended] == [("failed", 1)] * len(locations)
    errors = sorted(str(d.last_error) for d in ended)
    assert errors[0].startswith(
        "refused: 0x7f000002 means 127.0.0.2, a special-purpose address (Loopback, 127.0.0.0/8);"
    )
    assert errors[1:] == [
        "refused: the redirect to 'gopher://x/': must be an http:// or https:// URL",
        "refused: the redirect to 'http://0177.0.0.1/': cannot be read: "
        "Invalid IPv4 address: '0177.0.0.1'",
        "refused: the redirect to 'http://xn--/': xn-- is no host name (labels of 1-63 "
        "letters, digits, - or _, 253 characters in all)",
    ]


async def test_a_name_that_resolves_to_loopback_only_at_delivery_is_refused(
    engine: AsyncEngine,
) -> None:
    """What registration cannot know: the name had a public address then, and resolves to
    loopback when the event is sent."""
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)

    async def then(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address("93.184.215.14")]

    async def now(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "rebind.example")
        assert await check_url(url, public_only, resolve=then) == url
        hook = await hooks.create(user, url, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox, rule=public_only, resolve=now))
        assert receiver.hits == []
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # refused: not retried
    assert str(delivery.last_error).startswith(
        "refused: rebind.example resolves to 127.0.0.1, a special-purpose address "
        "(Loopback, 127.0.0.0/8);"
    )


def _loopback_names_in_etc_hosts() -> list[str]:
    names = []
    for line in Path("/etc/hosts").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and ipaddress.ip_address(fields[0]).is_loopback:
            names.extend(fields[1:])
    return names


async def test_names_the_system_resolves_to_loopback_are_refused_at_registration() -> None:
    """The system's resolver (only /etc/hosts names here: nothing leaves the machine)."""
    names = _loopback_names_in_etc_hosts()
    assert "localhost" in names
    for name in [*names, "localhost.", "LOCALHOST"]:
        with pytest.raises(InvalidInputError) as info:
            await check_url(f"http://{name}:8080/hook", public_only)
        assert info.value.field == "url"
        assert "a special-purpose address (Loopback" in info.value.message
    for name in names:  # not by their name: by what the resolver answers
        if not name.endswith("localhost"):
            with pytest.raises(InvalidInputError, match=f"url: {name.lower()} resolves to "):
                await check_url(f"https://{name}/hook", public_only)


async def test_the_sender_refuses_every_hostile_url_before_connecting() -> None:
    """The table of hostile URLs, stored anyway: refused at delivery by the same rules, at
    once and for good, with no request made. Allowed private addresses, the sender
    connects to the address it judged (a transport that records stands in for the peer)."""
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    for rule in (public_only, any_address):
        transport = httpx.MockTransport(record)
        sender = WebhookSender(timeout_s=5, rule=rule, resolve=resolve_names, transport=transport)
        try:
            for url, problem, kind in HOSTILE:
                outcome = await sender.send(url, b"{}", {})
                if rule is public_only or kind == "url":
                    assert outcome.permanent, (url, outcome)
                    assert str(outcome.error).startswith("refused: "), (url, outcome)
                    assert problem.removeprefix("url: ") in str(outcome.error), (url, outcome)
                else:
                    assert not outcome.permanent, (url, outcome)
        finally:
            await sender.aclose()
    allowed = [url for url, _, kind in HOSTILE if kind != "url"]
    assert 0 < len(requests) <= len(allowed)
    for request in requests:  # pinned: the address judged, the host name in `Host`
        assert ipaddress.ip_address(request.url.host)
        assert request.headers["Host"]


async def _store_url(engine: AsyncEngine, webhook_id: str, url: str) -> None:
    """A URL written into the row as one registered before registration refused it."""
    async with engine.begin() as conn:
        done = await conn.execute(
            update(webhooks).where(webhooks.c.id == webhook_id).values(url=url)
        )
    assert done.rowcount == 1


UNUSABLE = [  # (url stored, part of the error recorded); nothing but loopback, whatever reads them
    ("http://0177.0.0.1:{port}/hook", "cannot be read: Invalid IPv4 address"),
    ("http://127.0.0.1:{port}/hook\r\nX-Injected: 1", "line breaks"),
    ("http://xn--:{port}/", "xn-- is no host name"),
    ("http://a..b:{port}/", "a..b is no host name"),
    ("http://" + "a" * 64 + ".example:{port}/", "is no host name"),
    ("http://127.0.0.1:0/", "port 0 is not in 1-65535"),
    ("http://[::1%25lo]:{port}/", "IPv6 zone ids"),
    ("http://good.example\\@127.0.0.1:{port}/", "backslash"),
    ("http://\uff11\uff12\uff17.0.0.1:{port}/", "Invalid IDNA hostname"),
]


async def test_stored_urls_the_client_cannot_use_end_at_once_and_disable_the_endpoint(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Before registration refused them, such URLs made the sender raise: the delivery was
    claimed again at every lease, for ever. Now each attempt is recorded and ends it."""
    caplog.set_level(logging.INFO)
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        port = receiver.base.rsplit(":", 1)[1]
        made = []
        for url, _ in UNUSABLE:
            hook = await hooks.create(user, receiver.url, ["job.succeeded"])
            await _store_url(engine, hook.id, url.format(port=port))
            made.append(hook)
        await _job(jobs, user)
        await _job(jobs, user)
        # Even for an operator who allows every address, with a retry window of a day.
        await _deliver_all(_dispatcher(outbox, rule=any_address, disable_after=2))
        assert receiver.hits == []
    for hook, (_, problem) in zip(made, UNUSABLE, strict=True):
        listed, _ = await outbox.deliveries(user, hook.id)
        assert [(d.status, d.attempts) for d in listed] == [("failed", 1)] * 2
        for delivery in listed:
            [attempt] = delivery.log
            assert str(attempt.error).startswith("refused: ") and problem in str(attempt.error)
        ended = await hooks.get(user, hook.id)
        assert ended.disabled_at is not None and ended.failure_run == 2
        assert problem in str(ended.disabled_reason)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_attempt_that_raises_is_a_failed_attempt_until_the_window_ends(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)

    async def broken(host: str, port: int) -> list[IpAddress]:
        raise RuntimeError("the resolver broke")

    hook = await hooks.create(user, "http://broken.example:9/hook", ["job.succeeded"])
    await _job(jobs, user)
    await _deliver_all(_dispatcher(outbox, resolve=broken, window_s=2.0, disable_after=1))
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert delivery.status == "failed" and delivery.attempts >= 2  # retried, then given up
    assert {a.error for a in delivery.log} == {
        "could not deliver: RuntimeError: the resolver broke"
    }
    ended = await hooks.get(user, hook.id)
    assert ended.disabled_at is not None
    assert "the resolver broke" in str(ended.disabled_reason)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_delivery_whose_worker_died_is_sent_again_after_its_lease(
    engine: AsyncEngine,
) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        # A worker claims it and dies before answering: nothing is recorded.
        [held] = await outbox.claim("dead", 10, lease_s=0.5)
        assert await outbox.claim("w1", 10, lease_s=30) == []  # held while the lease runs
        await asyncio.sleep(0.7)
        await _deliver_all(_dispatcher(outbox))
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
    user = await _user(engine)
    with Receiver(script=[500] * 20) as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        await _job(jobs, user)
        await _job(jobs, user, "failed")
        # No retry window: each delivery fails for good at its first failed attempt.
        await _deliver_all(_dispatcher(outbox, window_s=0, disable_after=2))
        assert len(receiver.hits) == 2
        disabled = await hooks.get(user, hook.id)
        assert disabled.disabled_at is not None and disabled.failure_run == 2
        assert disabled.disabled_reason is not None
        assert disabled.disabled_reason.startswith("2 deliveries in a row failed")
        assert "HTTP 500" in disabled.disabled_reason
        await _job(jobs, user)  # no delivery for a disabled endpoint
        listed, _ = await outbox.deliveries(user, hook.id)
        assert [d.status for d in listed] == ["failed", "failed"]
        # Enabled again, it starts a new run and hears the next event.
        enabled = await hooks.update(user, hook.id, enabled=True)
        assert (enabled.disabled_at, enabled.failure_run) == (None, 0)
        receiver.script.clear()
        await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox, window_s=0, disable_after=2))
        assert len(receiver.wait_for(3)) == 3
    listed, _ = await outbox.deliveries(user, hook.id)
    assert [d.status for d in listed] == ["succeeded", "failed", "failed"]


async def test_disabling_gives_up_pending_deliveries(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])
    await _job(jobs, user)
    await hooks.update(user, hook.id, enabled=False)
    [delivery], _ = await outbox.deliveries(user, hook.id)
    assert delivery.status == "failed"
    assert delivery.last_error == "not delivered: the webhook was disabled"
    assert await outbox.claim("w1", 10, lease_s=30) == []


async def test_a_quota_warning_is_an_event(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
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
    user = await _user(engine)
    period = accounts.period()
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["quota.warning"])
        for _ in range(4):  # the 4th of 5 crosses 80 %
            await jobs.enqueue(
                NewJob(
                    user_id=user,
                    type=JobType.HTML,
                    input="<p>q</p>",
                    options={},
                    plan="enterprise",
                    quota_period=period,
                    quota_limit=5,
                    max_attempts=1,
                )
            )
        compose = event_composer(jobs.get, accounts.user_usage, "http://pdf.example/")
        sender = WebhookSender(timeout_s=5.0, rule=any_address)
        config = DeliveryConfig(retry=FAST, timeout_s=5.0, poll_s=0.05)
        await _deliver_all(WebhookDispatcher(outbox, sender, compose, config, owner="w1"))
        [hit] = receiver.wait_for(1)
    usage = await accounts.usage(user, accounts.plan("enterprise"))
    assert usage["pdfs"]["reserved"] == 4
    assert hit.event["type"] == "quota.warning"
    assert hit.event["data"] == {"period": period, "usage": json.loads(json.dumps(usage))}


async def test_retention_prunes_deliveries_ended_past_the_days_set(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    hook = await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await _job(jobs, user)
    await _job(jobs, user)
    await hooks.update(user, hook.id, enabled=False)  # both end, failed
    assert await prune_deliveries(outbox, 30) == 0  # ended just now
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(finished_at=now_plus(-31 * 86400)))
    assert await prune_deliveries(outbox, 0) == 0  # 0: kept for ever
    assert await prune_deliveries(outbox, 30) == 2
    assert await outbox.deliveries(user, hook.id) == ([], None)


async def test_ended_deliveries_are_pruned_by_age_in_batches(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded"])
        for _ in range(3):
            await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox))
        receiver.wait_for(3)
    pending = await hooks.create(user, "http://192.0.2.1/hook", ["job.failed"])
    await _job(jobs, user, "failed")
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
    user = await _user(engine)
    with Receiver(script=[500]) as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded"])
        job_id = await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox))
        first, second = receiver.wait_for(2)
    event = json.loads(first.body)
    assert first.body == second.body
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["data"]["subject"] == job_id and event["created_at"].endswith("Z")


@pytest.mark.parametrize("status", ["pending", "succeeded"])
async def test_redelivery_of_an_ended_delivery(engine: AsyncEngine, status: str) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        if status == "succeeded":
            await _deliver_all(_dispatcher(outbox))
            receiver.wait_for(1)
        [delivery], _ = await outbox.deliveries(user, hook.id)
        if status == "pending":
            with pytest.raises(Exception, match="still pending"):
                await outbox.redeliver(user, hook.id, delivery.id)
            return
        again = await outbox.redeliver(user, hook.id, delivery.id)
        assert again.status == "pending"
        await _deliver_all(_dispatcher(outbox))
        first, second = receiver.wait_for(2)
    assert first.body == second.body  # the same event, sent again
    [delivery], _ = await outbox.deliveries(user, hook.id)
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
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver(tls=server_tls, name="localhost") as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await _job(jobs, user)
        await _deliver_all(_dispatcher(outbox, verify=client_tls, window_s=0))
    [delivery], _ = await outbox.deliveries(user, hook.id)
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
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await _job(jobs, user)
    await _job(jobs, user)
    assert await outbox.backlog() == {"pending": 2, "due": 2, "succeeded": 0, "failed": 0}
    await _deliver_all(_dispatcher(outbox, rule=public_only))  # refused: failed for good
    assert await outbox.backlog() == {"pending": 0, "due": 0, "succeeded": 0, "failed": 2}


async def test_the_dispatcher_learns_when_the_next_delivery_is_due(engine: AsyncEngine) -> None:
    """What every dispatcher asks at each look: nothing pending (None), one due now (<= 0),
    or how long until the earliest pending one; ended deliveries do not count."""
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    assert await outbox.next_due_in_s() is None
    await hooks.create(user, "http://192.0.2.1/hook", ["job.succeeded"])  # a test network
    await _job(jobs, user)
    due = await outbox.next_due_in_s()
    assert due is not None and due <= 0
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(next_attempt_at=now_plus(60)))
    later = await outbox.next_due_in_s()
    assert later is not None and 50 < later <= 60
    async with engine.begin() as conn:
        await conn.execute(update(webhook_deliveries).values(status="failed"))
    assert await outbox.next_due_in_s() is None


async def test_two_dispatchers_send_each_event_once(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await _user(engine)
    with Receiver() as receiver:
        await hooks.create(user, receiver.url, ["job.succeeded", "job.failed"])
        for n in range(30):
            await _job(jobs, user, "failed" if n % 3 == 0 else "succeeded")
        await asyncio.gather(
            _deliver_all(_dispatcher(outbox, owner="a", concurrency=4)),
            _deliver_all(_dispatcher(outbox, owner="b", concurrency=4)),
        )
        await asyncio.sleep(0.2)
        hits = list(receiver.hits)
    ids = [h.headers["Pdfprompt-Delivery"] for h in hits]
    assert len(ids) == len(set(ids)) == 30
    assert all(h.headers["Pdfprompt-Attempt"] == "1" for h in hits)
    assert await outbox.backlog() == {"pending": 0, "due": 0, "succeeded": 30, "failed": 0}

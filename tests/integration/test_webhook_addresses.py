"""Where webhooks may be sent, on real SQLite and PostgreSQL over real HTTP to receivers on
loopback addresses: private addresses refused after resolving, every redirect checked
before it is followed, a name that resolves to loopback only at delivery, hostile URLs
refused before connecting, stored URLs the client cannot use, and HTTPS endpoints checked
against their host name."""

import ipaddress
import logging
import ssl
from pathlib import Path

import httpx
import pytest
import trustme
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import webhooks
from pdfprompt.domain import InvalidInputError, public_only
from pdfprompt.queue import job_store_for
from pdfprompt.webhooks import (
    AddressRule,
    IpAddress,
    WebhookOutbox,
    WebhookSender,
    WebhookStore,
    any_address,
    check_url,
    verify,
)
from tests.support.hostile_urls import HOSTILE, resolve_names
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    deliver_all,
    dispatcher_for,
    ended_job,
    hook_user,
)


async def test_private_addresses_are_refused_after_resolving(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
    with Receiver() as receiver:
        # By name: `localhost` passes the URL check and is refused once resolved.
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        hook = await hooks.create(user, by_name, ["job.succeeded"])
        await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox, rule=public_only))
        # The delivery has ended: a request it sent would be in `hits` (a receiver records
        # one before answering it, a delivery ends after the answer).
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
    user = await hook_user(engine)
    with Receiver("127.0.0.2") as inside:
        with Receiver(script=[("redirect", 307, inside.url)]) as front:
            hook = await hooks.create(user, front.url, ["job.succeeded"])
            await ended_job(jobs, user)
            # 127.0.0.1 is allowed, the address it redirects to is not.
            await deliver_all(dispatcher_for(outbox, rule=_only("127.0.0.1")))
            assert len(front.hits) == 1
        assert inside.hits == []  # the delivery has ended, and never asked it
        [delivery], _ = await outbox.deliveries(user, hook.id)
        assert delivery.status == "failed"
        assert delivery.last_error is not None
        assert delivery.last_error.startswith(
            "refused: 127.0.0.2 is a special-purpose address (Loopback, 127.0.0.0/8);"
        )
        # Allowed, the redirect is followed with the same signed body.
        with Receiver(script=[("redirect", 308, inside.url)]) as front:
            second = await hooks.create(user, front.url, ["job.failed"])
            await ended_job(jobs, user, "failed")
            await deliver_all(dispatcher_for(outbox, rule=_only("127.0.0.1", "127.0.0.2")))
        [hit] = inside.wait_for(1)
    assert hit.event["type"] == "job.failed"
    assert verify(str(second.secret), hit.body, hit.headers["Pdfprompt-Signature"])


async def test_a_redirect_to_a_url_the_rules_refuse_ends_the_delivery(engine: AsyncEngine) -> None:
    jobs, hooks, outbox = job_store_for(engine), WebhookStore(engine), WebhookOutbox(engine)
    user = await hook_user(engine)
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
            await ended_job(jobs, user)  # one event for each of the endpoints
            await deliver_all(dispatcher_for(outbox, rule=_only("127.0.0.1")))
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
    user = await hook_user(engine)

    async def then(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address("93.184.215.14")]

    async def now(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "rebind.example")
        assert await check_url(url, public_only, resolve=then) == url
        hook = await hooks.create(user, url, ["job.succeeded"])
        await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox, rule=public_only, resolve=now))
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
    user = await hook_user(engine)
    with Receiver() as receiver:
        port = receiver.base.rsplit(":", 1)[1]
        made = []
        for url, _ in UNUSABLE:
            hook = await hooks.create(user, receiver.url, ["job.succeeded"])
            await _store_url(engine, hook.id, url.format(port=port))
            made.append(hook)
        await ended_job(jobs, user)
        await ended_job(jobs, user)
        # Even for an operator who allows every address, with a retry window of a day.
        await deliver_all(dispatcher_for(outbox, rule=any_address, disable_after=2))
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
    user = await hook_user(engine)
    with Receiver(tls=server_tls, name="localhost") as receiver:
        hook = await hooks.create(user, receiver.url, ["job.succeeded"])
        await ended_job(jobs, user)
        await deliver_all(dispatcher_for(outbox, verify=client_tls, window_s=0))
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

"""Sending webhook events: signing, redirects, retries, the worker loop.

Every attempt POSTs the same JSON body (fixed at the first attempt) with
`Pdfprompt-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
An endpoint must answer 2xx within the timeout; anything else (an exception included) is
retried with exponential backoff until the retry window has passed. The URL is read by the
rules it was registered under (`addresses`), on the first request and on every redirect;
every address its host resolves to is checked before connecting, and the connection goes
to the address that was checked (a second DNS answer cannot swap it). A URL or address
those rules refuse fails the delivery at once: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from pdfprompt.accounts.addresses import (
    LOOPBACK,
    AddressRule,
    IpAddress,
    Resolve,
    Target,
    parse_target,
    refusal,
    resolve_host,
)
from pdfprompt.accounts.webhooks import AttemptOutcome, ClaimedDelivery, WebhookStore
from pdfprompt.domain import InvalidInputError, RetryPolicy

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Pdfprompt-Signature"
MAX_REDIRECTS = 5
EXCERPT_BYTES = 512
_REDIRECTS = (301, 302, 303, 307, 308)
_LOCATION = "pdfprompt.location"  # where `_take_location` keeps a redirect's Location

# (event, user id, subject) -> the event's `data`.
Compose = Callable[[str, str, str], Awaitable[dict[str, Any]]]


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Pdfprompt-Signature` header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """What a receiver does: the signature matches and its time is within `tolerance_s`."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class _Refused(Exception):
    """The destination is not allowed; retrying cannot help."""


class WebhookSender:
    """POSTs one event to one URL, following redirects, within `timeout_s` in all. It never
    raises: whatever goes wrong is the attempt's outcome."""

    def __init__(
        self,
        *,
        timeout_s: float,
        rule: AddressRule,
        verify: ssl.SSLContext | bool = True,
        user_agent: str = "pdfprompt-webhooks/1",
        resolve: Resolve = resolve_host,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`verify`: how HTTPS endpoints' certificates are checked (the system's trust
        store by default), always against the URL's host name; `resolve`: what turns a
        host name into addresses (the system's resolver); `transport`: what carries the
        requests (connections of its own by default)."""
        self.timeout_s = timeout_s
        self.rule = rule
        self.user_agent = user_agent
        self.resolve = resolve
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=timeout_s,
            verify=verify,
            transport=transport,
            event_hooks={"response": [_take_location]},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptOutcome:
        started = time.monotonic()

        def outcome(code: int | None, error: str | None, permanent: bool = False) -> AttemptOutcome:
            ms = round((time.monotonic() - started) * 1000)
            return AttemptOutcome(code, error, ms, permanent)

        try:
            async with asyncio.timeout(self.timeout_s):
                target = _usable(url, "")
                for _ in range(MAX_REDIRECTS + 1):
                    code, location, excerpt = await self._post(target, body, headers)
                    if code in _REDIRECTS and location:
                        target = _redirected(target, location)
                        continue
                    if 200 <= code < 300:
                        return outcome(code, None)
                    detail = f": {excerpt}" if excerpt else ""
                    return outcome(code, f"the endpoint answered HTTP {code}{detail}")
                return outcome(None, f"more than {MAX_REDIRECTS} redirects")
        except _Refused as exc:
            return outcome(None, str(exc), permanent=True)
        except TimeoutError:
            return outcome(None, f"no answer within {self.timeout_s:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return outcome(None, f"could not deliver: {_short(exc)}")
        except Exception as exc:  # a failed attempt like any other: retried, then given up
            log.warning("a webhook attempt failed unexpectedly", exc_info=True)
            return outcome(None, f"could not deliver: {_short(exc)}")

    async def _post(
        self, target: Target, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None, str]:
        """One POST to a checked address of the host (the next one if it cannot be
        reached); (status, Location, start of the answer)."""
        addresses = await self._resolve(target)
        sni = str(target.address) if target.address is not None else target.host
        extensions = {"sni_hostname": sni} if target.url.scheme == "https" else {}
        netloc = target.url.netloc.decode("ascii")
        sent = {**headers, "Host": netloc, "User-Agent": self.user_agent}
        for n, address in enumerate(addresses):
            pinned = target.url.copy_with(host=str(address))
            request = self.client.build_request(
                "POST", pinned, content=body, headers=sent, extensions=extensions
            )
            try:
                response = await self.client.send(request, stream=True)
                break
            except httpx.ConnectError:
                if n == len(addresses) - 1:
                    raise
        try:
            excerpt = b""
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        finally:
            await response.aclose()
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace").strip()
        return response.status_code, response.extensions.get(_LOCATION), text

    async def _resolve(self, target: Target) -> list[IpAddress]:
        """The addresses to connect to, in the resolver's order; `_Refused` if any address
        the host has (or, for a `localhost` name, loopback) is not allowed."""
        if target.address is not None:
            addresses = [target.address]
        else:
            if target.loopback_name:
                _judge(target, list(LOOPBACK), self.rule)
            try:
                addresses = await self.resolve(target.host, target.port)
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                raise httpx.ConnectError(f"cannot resolve {target.host}: {reason}") from None
            if not addresses:
                raise httpx.ConnectError(f"cannot resolve {target.host}: no address")
        _judge(target, addresses, self.rule)
        return list(dict.fromkeys(addresses))


async def _take_location(response: httpx.Response) -> None:
    """Moves a redirect's Location out of the headers: the sender reads it by the rules of a
    registered URL, where httpx would read it too (even when it does not follow it) and
    raise on one it cannot parse."""
    location = response.headers.get("location")
    if location is not None:
        del response.headers["location"]
        response.extensions[_LOCATION] = location


def _judge(target: Target, addresses: list[IpAddress], rule: AddressRule) -> None:
    problem = refusal(target, addresses, rule)
    if problem is not None:
        raise _Refused(
            f"refused: {problem}; an operator may allow such addresses with "
            "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE=true"
        )


def _usable(url: str | httpx.URL, what: str) -> Target:
    """`url` read by the same rules as at registration; `_Refused` if it cannot be used."""
    try:
        return parse_target(url)
    except InvalidInputError as exc:
        raise _Refused(f"refused: {what}{exc.message.removeprefix('url: ')}") from None


def _redirected(target: Target, location: str) -> Target:
    """Where a redirect points, checked like a registered URL."""
    what = f"the redirect to {location[:200]!r}: "
    try:
        joined = target.url.join(location)
    except Exception as exc:  # the client cannot read the Location header
        raise _Refused(f"refused: {what}cannot be read: {exc}") from None
    if any(c.isspace() or c == "\\" for c in location):
        raise _Refused(f"refused: {what}may not contain spaces or backslashes")
    return _usable(joined, what)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return text if len(text) <= 300 else text[:299] + "…"


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 16
    poll_s: float = 0.25
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_s=10.0, cap_s=3600.0))
    window_s: float = 86400.0
    disable_after: int = 5
    timeout_s: float = 10.0

    @property
    def lease_s(self) -> float:
        """How long a claim holds: the whole attempt, then as long again."""
        return self.timeout_s * 2 + 1


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.attempts = Counter(
            "pdfprompt_webhook_attempts",
            "Webhook delivery attempts, by result.",
            ["result"],
            registry=r,
        )
        self.ended = Counter(
            "pdfprompt_webhook_deliveries",
            "Webhook deliveries that ended, by status.",
            ["status"],
            registry=r,
        )
        self.in_flight = Gauge(
            "pdfprompt_webhook_in_flight", "Webhook attempts this process is making.", registry=r
        )
        for result in ("delivered", "failed", "refused"):
            self.attempts.labels(result)
        for status in ("succeeded", "failed"):
            self.ended.labels(status)


class WebhookDispatcher:
    """Claims due deliveries and sends them, `concurrency` at a time, apart from the jobs:
    a slow endpoint never holds a job slot."""

    def __init__(
        self,
        store: WebhookStore,
        sender: WebhookSender,
        compose: Compose,
        config: DeliveryConfig,
        *,
        owner: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.compose = compose
        self.config = config
        self.owner = owner
        self.metrics = DeliveryMetrics(registry)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, *, burst: bool = False) -> None:
        """Deliver until stopped (in `burst` mode: until nothing is pending); on stop, the
        attempts in flight get the timeout to finish, the rest return on lease expiry."""
        try:
            while not self._stopping.is_set():
                try:  # a read: nothing is written while nothing is due
                    due = await self.store.next_due_in_s()
                except Exception as exc:
                    log.warning("checking for due webhook deliveries failed (%s)", exc)
                    due = None
                if burst and due is None and not self._tasks:
                    return
                free = self.config.concurrency - len(self._tasks)
                if due is not None and due <= 0 and free > 0 and await self._claim(free):
                    continue  # look again at once: more may be due
                wait_s = self.config.poll_s
                if due is not None and due > 0:
                    wait_s = min(wait_s, max(0.01, due))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s)
        finally:
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=self.config.timeout_s + 1)
            for task in list(self._tasks):
                task.cancel()

    async def _claim(self, free: int) -> int:
        """Claim up to `free` due deliveries and start sending them; how many."""
        try:
            claimed = await self.store.claim(self.owner, free, self.config.lease_s)
        except Exception as exc:
            log.warning("claiming webhook deliveries failed (%s)", exc)
            return 0
        for delivery in claimed:
            task = asyncio.create_task(self._deliver(delivery), name="pdfprompt-webhook")
            self._tasks.add(task)
            task.add_done_callback(self._done)
        return len(claimed)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("webhook delivery failed unexpectedly; its lease will run out", exc_info=exc)

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        self.metrics.in_flight.inc()
        started = time.monotonic()
        try:
            try:
                body = (claimed.payload or await self._body(claimed)).encode()
            except Exception as exc:
                log.exception("could not build webhook event %s", claimed.id)
                outcome = AttemptOutcome(None, f"could not build the event: {exc}", 0)
            else:
                outcome = await self.sender.send(claimed.url, body, self._headers(claimed, body))
        finally:
            self.metrics.in_flight.dec()
        delay = self.config.retry.delay_s(claimed.attempt)
        elapsed = time.monotonic() - started
        give_up = outcome.permanent or claimed.age_s + elapsed + delay > self.config.window_s
        result = "delivered" if outcome.delivered else "refused" if outcome.permanent else "failed"
        self.metrics.attempts.labels(result).inc()
        for attempt in range(3):
            try:
                ended = await self.store.record(
                    claimed,
                    self.owner,
                    outcome,
                    retry_in_s=None if give_up else delay,
                    disable_after=self.config.disable_after,
                )
                break
            except Exception as exc:
                log.warning("recording webhook attempt failed (%s)", exc)
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            return  # the lease runs out and the delivery is tried again
        if ended in ("succeeded", "failed"):
            self.metrics.ended.labels(ended).inc()
        if not outcome.delivered:
            log.info(
                "webhook delivery %s (%s) attempt %d: %s; %s",
                claimed.id,
                claimed.event,
                claimed.attempt,
                outcome.error,
                "giving up" if ended == "failed" else ended,
            )

    async def _body(self, claimed: ClaimedDelivery) -> str:
        data = await self.compose(claimed.event, claimed.user_id, claimed.subject)
        event = {
            "id": str(claimed.id),
            "type": claimed.event,
            "created_at": claimed.created_at.isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        return await self.store.set_payload(claimed.id, body)

    @staticmethod
    def _headers(claimed: ClaimedDelivery, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Pdfprompt-Event": claimed.event,
            "Pdfprompt-Delivery": str(claimed.id),
            "Pdfprompt-Attempt": str(claimed.attempt),
            SIGNATURE_HEADER: sign(claimed.secret, body, int(time.time())),
        }

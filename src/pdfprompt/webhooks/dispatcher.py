"""The dispatch loop: claims due deliveries from the outbox and sends them, apart from the
jobs, retrying with exponential backoff until the retry window has passed.

Every attempt POSTs the same JSON body, fixed at the first attempt, signed anew (`signing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from pdfprompt.domain import RetryPolicy, log_context
from pdfprompt.webhooks.events import Compose, event_body
from pdfprompt.webhooks.outbox import AttemptOutcome, ClaimedDelivery, WebhookOutbox
from pdfprompt.webhooks.sender import WebhookSender
from pdfprompt.webhooks.signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)


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
        outbox: WebhookOutbox,
        sender: WebhookSender,
        compose: Compose,
        config: DeliveryConfig,
        *,
        owner: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.outbox = outbox
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
                    due = await self.outbox.next_due_in_s()
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
            claimed = await self.outbox.claim(self.owner, free, self.config.lease_s)
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
        # Its log lines name the delivery's job (a `job.*` event's subject; the delivery's own
        # attempt is in their text, `attempt` being the job's).
        with log_context(
            job_id=claimed.subject if claimed.event.startswith("job.") else None,
            user_id=claimed.user_id,
            worker_id=self.owner,
            stage="deliver",
        ):
            await self._deliver_logged(claimed)

    async def _deliver_logged(self, claimed: ClaimedDelivery) -> None:
        self.metrics.in_flight.inc()
        started = time.monotonic()
        try:
            try:
                body = (claimed.payload or await self._body(claimed)).encode()
            except Exception as exc:
                log.exception("could not build webhook event %s", claimed.id)
                outcome = AttemptOutcome(None, f"could not build the event: {exc}", 0)
            else:
                headers = self._headers(claimed, body, time.monotonic() - started)
                outcome = await self.sender.send(claimed.url, body, headers)
        finally:
            self.metrics.in_flight.dec()
        delay = self.config.retry.delay_s(claimed.attempt)
        elapsed = time.monotonic() - started
        give_up = outcome.permanent or claimed.age_s + elapsed + delay > self.config.window_s
        result = "delivered" if outcome.delivered else "refused" if outcome.permanent else "failed"
        self.metrics.attempts.labels(result).inc()
        for attempt in range(3):
            try:
                ended = await self.outbox.record(
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
        return await self.outbox.set_payload(claimed.id, event_body(claimed, data))

    @staticmethod
    def _headers(claimed: ClaimedDelivery, body: bytes, since_claim_s: float) -> dict[str, str]:
        """The headers of one attempt. The signature's time is the database's (when the
        delivery was claimed, plus the time since), never this machine's wall clock, which
        may be off by hours; a receiver checks it against its own, within minutes."""
        if claimed.claimed_at is not None:
            signed_at = int(claimed.claimed_at.timestamp() + since_claim_s)
        else:
            signed_at = int(time.time())
        return {
            "Content-Type": "application/json",
            "Pdfprompt-Event": claimed.event,
            "Pdfprompt-Delivery": str(claimed.id),
            "Pdfprompt-Attempt": str(claimed.attempt),
            SIGNATURE_HEADER: sign(claimed.secret, body, signed_at),
        }

"""The event loop's own health: how late it runs what is due, and where it was held.

Every request an API process answers and every job a worker runs shares one event loop;
whatever holds it (a blocking call, a long computation, a thread holding the interpreter
lock) delays all of them at once. `LoopWatch` measures that delay as a histogram
(`pdfprompt_event_loop_lag_seconds`) and, when the loop has not turned for `stall_s`, logs
once per stall where it was: the loop thread's stack, taken from a thread of its own while
the stall lasts, and the stall's length when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("pdfprompt.loop")

LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class LoopWatch:
    """Run `watch()` as a task on the loop to watch. Every `interval_s` it sleeps and records
    how much later than asked it woke; a thread checks the last turn every half `stall_s`
    (at least every 100 ms) and, past `stall_s`, logs the loop thread's stack (`stall_s` 0:
    no thread, no stack). Each wake-up costs some CPU (an idle `pdfprompt serve` is a few
    ms a second): ten samples and a few checks a second."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        stall_s: float,
        interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s
        self._clock = clock
        self.lag = Histogram(
            "pdfprompt_event_loop_lag_seconds",
            "How much later than due this process's event loop ran a timer (sampled every "
            "100 ms): the delay every request and job in the process shared at that moment.",
            buckets=LAG_BUCKETS_S,
            registry=registry,
        )
        self.stalls = 0
        self._turned = clock()
        self._reported = False
        self._loop_thread = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the turn and the report, between the two threads

    async def watch(self) -> None:
        """Until cancelled: sleep, record the lag, mark the turn."""
        self._loop_thread = threading.get_ident()
        self._turned = self._clock()
        if self.stall_s > 0:
            threading.Thread(target=self._check, name="pdfprompt-loop-watch", daemon=True).start()
        try:
            while True:
                before = self._clock()
                await asyncio.sleep(self.interval_s)
                now = self._clock()
                self.lag.observe(max(0.0, now - before - self.interval_s))
                self.turned(now)
        finally:
            self._stop.set()  # the thread ends at its next check

    def turned(self, now: float) -> None:
        """The loop ran: a stall reported while it was held is over."""
        with self._lock:
            reported, self._reported = self._reported, False
            held, self._turned = now - self._turned, now
        if reported:
            log.warning("event loop held for %.0f ms in all", held * 1000)

    def check(self, now: float) -> bool:
        """From the watching thread: whether the loop is held past `stall_s` and not yet
        reported; if so, log where (once per stall)."""
        # Under the lock, the warning included: the end of this stall is logged after it.
        with self._lock:
            held = now - self._turned
            if self._reported or held < self.stall_s:
                return False
            self._reported = True
            self.stalls += 1
            frame = sys._current_frames().get(self._loop_thread)
            where = "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)"
            log.warning(
                "event loop held for %.0f ms so far (PDFPROMPT_LOOP_STALL_MS %.0f), at:\n%s",
                held * 1000,
                self.stall_s * 1000,
                where.rstrip("\n"),
            )
        return True

    def _check(self) -> None:
        every = max(0.1, self.stall_s / 2)
        while not self._stop.wait(every):
            self.check(self._clock())


@contextlib.asynccontextmanager
async def watching_loop(registry: CollectorRegistry, stall_ms: int) -> AsyncIterator[LoopWatch]:
    """A `LoopWatch` on the running loop while the context is open."""
    watch = LoopWatch(registry, stall_s=stall_ms / 1000)
    task = asyncio.create_task(watch.watch(), name="pdfprompt-loop-watch")
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

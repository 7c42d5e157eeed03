"""The event loop watch: its lag histogram and the stall warning with the loop's stack."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from pdfprompt.wiring.loop_watch import LoopWatch, watching_loop


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.name + "".join(f"{{le={v}}}" for k, v in s.labels.items() if k == "le"): s.value
        for metric in registry.collect()
        for s in metric.samples
    }


def test_a_stall_is_reported_once_then_its_end(caplog: pytest.LogCaptureFixture) -> None:
    """On a clock moved by hand: nothing before `stall_s`; one warning past it however often
    the thread looks; when the loop turns, one line with the whole length; then a new stall
    is a new report."""
    now = [100.0]
    watch = LoopWatch(CollectorRegistry(), stall_s=0.25, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="pdfprompt.loop")
    now[0] += 0.2
    assert not watch.check(now[0])
    now[0] += 0.1
    assert watch.check(now[0])
    assert not watch.check(now[0] + 1) and not watch.check(now[0] + 2)
    assert watch.stalls == 1
    watch.turned(now[0] + 0.7)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("event loop held for 300 ms so far")
    assert messages[1] == "event loop held for 1000 ms in all"
    now[0] += 0.7
    assert not watch.check(now[0] + 0.1)  # the loop turned just now
    assert watch.check(now[0] + 0.3) and watch.stalls == 2
    watch.turned(now[0] + 0.4)
    watch.turned(now[0] + 0.45)  # an ordinary turn: nothing logged
    assert len(caplog.records) == 4


def _blocking_call(released: threading.Event) -> None:
    """What holds the loop in the test below, at least 0.3 s and until the stall is reported;
    its name must appear in the warning."""
    started = time.monotonic()
    assert released.wait(30), "the stall was never reported"
    time.sleep(max(0.0, 0.3 - (time.monotonic() - started)))  # the stall's length: the scenario


def test_a_blocked_loop_is_logged_with_the_call_that_holds_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real loop held by a blocking call: the warning names the call (the loop thread's
    stack), and the histogram records the lag. The call returns once the warning is out, so
    the test waits on the report itself, not on a length of time."""
    caplog.set_level(logging.WARNING, logger="pdfprompt.loop")
    released = threading.Event()

    class Release(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "so far" in record.getMessage() and "_blocking_call" in record.getMessage():
                released.set()

    handler = Release()
    logging.getLogger("pdfprompt.loop").addHandler(handler)
    registry = CollectorRegistry()

    async def main() -> None:
        async with watching_loop(registry, stall_ms=100) as watch:
            await asyncio.sleep(0.12)  # the watch has turned at least once
            _blocking_call(released)
            await asyncio.sleep(0.12)  # the turn after the stall (its timer is overdue)
            assert watch.stalls >= 1  # a busy machine may have held the loop before too

    try:
        asyncio.run(main())
    finally:
        logging.getLogger("pdfprompt.loop").removeHandler(handler)
    messages = [r.getMessage() for r in caplog.records]
    (at,) = (i for i, m in enumerate(messages) if "_blocking_call" in m)
    so_far, in_all = messages[at : at + 2]
    assert "so far (PDFPROMPT_LOOP_STALL_MS 100), at:" in so_far
    assert "in _blocking_call" in so_far and "released.wait" in so_far
    assert in_all.startswith("event loop held for ") and in_all.endswith(" ms in all")
    samples = _samples(registry)
    assert samples["pdfprompt_event_loop_lag_seconds_count"] >= 3
    # The sampler's timer fell due within 0.1 s of the 0.3 s stall's start: one sample of at
    # least 0.2 s.
    assert (
        samples["pdfprompt_event_loop_lag_seconds_bucket{le=0.05}"]
        < (samples["pdfprompt_event_loop_lag_seconds_count"])
    )


def test_no_stall_warnings_at_zero_but_the_lag_is_still_measured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pdfprompt.loop")
    registry = CollectorRegistry()
    before = {t.ident for t in threading.enumerate()}

    async def main() -> None:
        async with watching_loop(registry, stall_ms=0):
            started = [t for t in threading.enumerate() if t.ident not in before]
            assert not [t for t in started if t.name == "pdfprompt-loop-watch"]
            await asyncio.sleep(0.12)
            time.sleep(0.15)  # a stall nobody reports
            await asyncio.sleep(0.12)

    asyncio.run(main())
    assert not caplog.records
    assert _samples(registry)["pdfprompt_event_loop_lag_seconds_count"] >= 2

"""Waiting on a condition instead of for a while: poll it until it holds, and fail naming
what did not happen once the deadline passes. And clocks a test moves by hand, for the code
that takes one, so that a TTL or a debounce window is crossed without waiting for it."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.02


def wait_until(
    condition: Callable[[], T], timeout_s: float, what: str, *, every_s: float = POLL_S
) -> T:
    """Poll `condition` until it returns something true, and return that; AssertionError
    saying `what` did not happen once `timeout_s` has passed (it is asked once more then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last_chance = time.monotonic() >= deadline
        result = condition()
        if result:
            return result
        if last_chance:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(every_s)


async def until(
    condition: Callable[[], T | Awaitable[T]],
    timeout_s: float,
    what: str,
    *,
    every_s: float = POLL_S,
) -> T:
    """`wait_until` in a test running on the event loop: between looks the loop runs (the
    code under test goes on); `condition` may be a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while True:
        last_chance = time.monotonic() >= deadline
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if last_chance:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(every_s)


class ManualClock:
    """A monotonic clock (seconds) that moves only when the test says so, and a `sleep` on
    it that ends when the clock is moved past its end: for code that takes its clock (and
    its sleep) as arguments."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now = start_s
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [(end, f) for end, f in self._sleepers if end <= self.now]
        self._sleepers = [(end, f) for end, f in self._sleepers if end > self.now]
        for _, sleeper in due:
            if not sleeper.done():
                sleeper.set_result(None)

    @property
    def sleeping(self) -> int:
        """Sleeps on this clock not yet over."""
        return sum(1 for _, f in self._sleepers if not f.done())

    @property
    def waking_at(self) -> list[float]:
        """When the sleeps on this clock not yet over end, soonest first."""
        return sorted(end for end, f in self._sleepers if not f.done())

    async def sleep(self, seconds: float) -> None:
        sleeper = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            sleeper.set_result(None)
        else:
            self._sleepers.append((self.now + seconds, sleeper))
        await sleeper


class ManualWallClock:
    """The time of day (UTC) that moves only when the test says so: for code that takes a
    `clock` returning a datetime (browser sessions, sign-in links)."""

    def __init__(self, start: datetime = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

"""Requests per minute, from the plan: per user (all of a user's keys count together), and
per client address for the public share links.

A fixed one-minute window per counted name: in this process (`LocalRateLimiter`, one node), or
shared by every node through Redis (`RedisRateLimiter`, `PDFPROMPT_REDIS_URL`): one
INCR (and the window's expiry) per request. If Redis cannot be reached, requests are let
through and counted in `errors` rather than refused: a rate limiter must not take the API
down with it.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from pdfprompt.domain import RateLimitedError

log = logging.getLogger(__name__)

WINDOW_S = 60


def _refused(limit: int, now: float, who: str) -> RateLimitedError:
    wait_s = WINDOW_S - (now % WINDOW_S)
    return RateLimitedError(
        f"{who} allows {limit} requests a minute; retry in {wait_s:.0f} s",
        retry_after_s=max(1.0, wait_s),
    )


PLAN = "your plan"


class RateLimiter(Protocol):
    async def hit(self, name: str, limit: int | None, who: str = PLAN) -> None:
        """Count a request of `name`; `RateLimitedError` when over `limit` this minute
        (its message: "<who> allows <limit> requests a minute")."""
        ...

    async def aclose(self) -> None: ...


class LocalRateLimiter:
    """Counts in this process only."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # name -> (window, requests)

    async def hit(self, name: str, limit: int | None, who: str = PLAN) -> None:
        if limit is None:
            return
        now = time.time()
        window = int(now // WINDOW_S)
        seen_window, count = self._windows.get(name, (window, 0))
        if seen_window != window:
            count = 0
            if len(self._windows) > 100_000:  # old windows of idle keys
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        if count >= limit:
            raise _refused(limit, now, who)
        self._windows[name] = (window, count + 1)

    async def aclose(self) -> None:
        pass


class RedisRateLimiter:
    """Counts in Redis, shared by every API node."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.errors = 0

    async def hit(self, name: str, limit: int | None, who: str = PLAN) -> None:
        if limit is None:
            return
        now = time.time()
        counter = f"pdfprompt:rate:{name}:{int(now // WINDOW_S)}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, WINDOW_S * 2)
                count, _ = await pipe.execute()
        except Exception as exc:  # Redis down: let the request through, say so
            self.errors += 1
            log.warning("rate limit not applied (Redis: %s)", exc)
            return
        if int(count) > limit:
            raise _refused(limit, now, who)

    async def aclose(self) -> None:
        await self._redis.aclose()


def rate_limiter_for(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()

"""`AccountStore`: users, plans, usage and API keys behind one object, put together from the
part for each concern (`users`, `usage`, `plans`, `keys`) and the in-memory helpers they
share (`principals`, `last_used`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts.keys import KeyRecords
from pdfprompt.accounts.last_used import LastUsedRecorder
from pdfprompt.accounts.plans import check_default_plan
from pdfprompt.accounts.principals import PrincipalCache
from pdfprompt.accounts.usage import UsageRecords
from pdfprompt.domain import BUILTIN_PLANS, Plan


class AccountStore(UsageRecords, KeyRecords):
    """Users and keys. A key that authenticated is trusted from memory for up to
    `cache_ttl_s` (never past its expiry); revoking it, or disabling or re-planning its user,
    through this store forgets it at once, other processes within the TTL.

    Each method lives with its concern and comes in by inheritance: `PlanLookups` (plans),
    `UserRecords` (users), `UsageRecords` (usage, built on users), `KeyRecords` (keys). The
    key cache and the recording of key use are objects of their own (`PrincipalCache`,
    `LastUsedRecorder`). This class holds the state the parts share and the cache's public
    face (`forget`, `on_change`, the counters)."""

    MAX_CACHED = 10_000

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        cache_ttl_s: float = 300.0,
        plans: dict[str, Plan] | None = None,
        default_plan: str = "enterprise",
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock`: now, for quota periods; `monotonic`: the clock that times how long a key
        is trusted from memory and when its use was last recorded."""
        self.engine = engine
        self.plans = dict(plans if plans is not None else BUILTIN_PLANS)
        check_default_plan(self.plans, default_plan)
        self.default_plan = default_plan
        self.clock = clock or (lambda: datetime.now(UTC))
        self.monotonic = monotonic
        self._principals = PrincipalCache(cache_ttl_s, self.MAX_CACHED)  # by the key's hash
        self._last_used = LastUsedRecorder(engine)

    @property
    def cache_ttl_s(self) -> float:
        """How long a key that authenticated is trusted from memory."""
        return self._principals.ttl_s

    @property
    def cache_hits(self) -> int:
        """Keys this process resolved from memory."""
        return self._principals.hits

    @property
    def cache_misses(self) -> int:
        """Keys this process had to look up in the database."""
        return self._principals.misses

    def forget(self, *, user_id: str | None = None, key_id: str | None = None) -> None:
        """Drop cached principals of a user or a key: they are looked up again."""
        self._principals.forget(user_id=user_id, key_id=key_id)

    def on_change(self, change: str) -> None:
        """A change announced by another process (`ACCOUNTS_CHANNEL`): forget what it names."""
        self._principals.on_change(change)

    async def aclose(self) -> None:
        """Wait for recordings of key use still being written."""
        await self._last_used.aclose()

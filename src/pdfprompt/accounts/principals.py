"""Who is calling, and this process's memory of it: a key that authenticated is trusted from
memory for a while, so that a request does not read the database to learn who sent it.

A change to a user or a key made in this process forgets what is remembered of it at once;
other processes are told through `ACCOUNTS_CHANNEL` (`announce_change` in the transaction that
makes the change, `PrincipalCache.on_change` where the announcement arrives) and forget it
then, or when the entry's time is up if the announcement was missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from pdfprompt.db import announce

ACCOUNTS_CHANNEL = "pdfprompt_accounts"  # NOTIFY: a user or key changed


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the key they used."""

    user_id: str
    key_id: str
    plan: str
    scopes: tuple[str, ...]
    expires_at: datetime | None = None  # the key's expiry (the database's clock)


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    until: float  # monotonic time the entry stops being trusted


class PrincipalCache:
    """Principals by the hash of the key that authenticated them, each trusted for up to
    `ttl_s` and never past its key's expiry. Past `max_entries` it starts over rather than
    growing: the keys in use are found again on their next request."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.hits = 0  # lookups answered from memory
        self.misses = 0  # lookups the database had to answer
        self._entries: dict[str, _Cached] = {}

    def recall(self, digest: str, now: float) -> Principal | None:
        """The principal remembered for this key hash while still trusted at monotonic `now`;
        counts a hit or a miss."""
        cached = self._entries.get(digest)
        if cached is not None and now < cached.until:
            self.hits += 1
            return cached.principal
        self.misses += 1
        return None

    def remember(
        self, digest: str, principal: Principal, now: float, expires_in_s: float | None
    ) -> None:
        """Trust `principal` for this key hash from monotonic `now`; `expires_in_s`: what is
        left of the key's life, if it expires."""
        trusted_s = self.ttl_s if expires_in_s is None else min(self.ttl_s, expires_in_s)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = _Cached(principal, now + trusted_s)

    def forget(self, *, user_id: str | None = None, key_id: str | None = None) -> None:
        """Drop the principals of a user or a key: they are looked up again."""
        self._entries = {
            digest: cached
            for digest, cached in self._entries.items()
            if cached.principal.user_id != user_id and cached.principal.key_id != key_id
        }

    def on_change(self, change: str) -> None:
        """A change announced by another process; `*` (after a lost connection, when
        announcements may have been missed) forgets everything."""
        kind, _, ident = change.partition(":")
        if kind == "user":
            self.forget(user_id=ident)
        elif kind == "key":
            self.forget(key_id=ident)
        else:
            self._entries.clear()


async def announce_change(conn: AsyncConnection, change: str) -> None:
    """Tell the other processes (PostgreSQL NOTIFY, sent at commit) to forget what they
    cached of a user (`user:ID`) or a key (`key:ID`)."""
    await announce(conn, ACCOUNTS_CHANNEL, change)

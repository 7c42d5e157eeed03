"""Identifiers: time-ordered so that newest-first listing is an index scan on the id."""

from __future__ import annotations

import os
import threading
import time
import uuid

# What an id given back by a client (a page's cursor: the last id of the previous page) may
# look like; anything else is refused before it reaches a query.
ID_PATTERN = r"^[0-9a-f-]{1,36}$"

_RAND_BITS = 74
_last_ms = 0
_last_rand = 0
_lock = threading.Lock()


def new_id() -> str:
    """A UUID (version 7 layout): 48 bits of Unix milliseconds, then 74 random bits. Ids made
    in one process only ever increase: within a millisecond the random part grows by a random
    step (RFC 9562's monotonic random method), so newest-first is id order."""
    global _last_ms, _last_rand
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms > _last_ms:
            # Seeded below half the range, leaving room to count up within the millisecond.
            _last_ms, _last_rand = ms, int.from_bytes(os.urandom(10), "big") >> 7
        else:
            _last_rand += 1 + int.from_bytes(os.urandom(4), "big")
            if _last_rand >> _RAND_BITS:
                _last_ms, _last_rand = _last_ms + 1, int.from_bytes(os.urandom(10), "big") >> 7
        ms, rand = _last_ms, _last_rand
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0x2 << 62 | rand_b
    return str(uuid.UUID(int=value))


def first_id_at(moment_ms: int) -> str:
    """The smallest id made at Unix millisecond `moment_ms`: ids compare (as text) in the
    order they were made, so `id < first_id_at(t)` means made before `t`."""
    digits = f"{moment_ms & ((1 << 48) - 1):012x}"
    return f"{digits[:8]}-{digits[8:]}-7000-8000-000000000000"

"""The storage contract: what every backend promises, run against the local backend and
against an S3-compatible server on 127.0.0.1 over real HTTP."""

from __future__ import annotations

import asyncio
import os

import pytest

from pdfprompt.domain import NotFoundError, StorageError
from pdfprompt.storage import Storage


async def _collect(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.stream(key, start, end)])


async def test_what_is_put_is_read_back_whole_and_in_ranges(storage: Storage) -> None:
    await storage.check()
    data = os.urandom(700_000)  # several chunks
    await storage.put("u1/j1/1-ab.pdf", data)
    assert await storage.size("u1/j1/1-ab.pdf") == len(data)
    assert await storage.read("u1/j1/1-ab.pdf") == data
    assert await _collect(storage, "u1/j1/1-ab.pdf") == data
    assert await _collect(storage, "u1/j1/1-ab.pdf", 10, 19) == data[10:20]
    assert await _collect(storage, "u1/j1/1-ab.pdf", 699_990) == data[699_990:]
    await storage.put("u1/j1/1-ab.pdf", b"replaced")
    assert await storage.read("u1/j1/1-ab.pdf") == b"replaced"


async def test_a_missing_object_is_not_found_and_delete_is_idempotent(storage: Storage) -> None:
    await storage.put("u1/gone.pdf", b"x")
    await storage.delete("u1/gone.pdf")
    await storage.delete("u1/gone.pdf")
    for read in (storage.read, storage.size, lambda k: _collect(storage, k)):
        with pytest.raises(NotFoundError):
            await read("u1/gone.pdf")


async def test_concurrent_writers_of_different_keys_do_not_interfere(storage: Storage) -> None:
    payloads = {f"u2/{i}.pdf": os.urandom(5_000 + i) for i in range(20)}
    await asyncio.gather(*(storage.put(k, v) for k, v in payloads.items()))
    read = await asyncio.gather(*(storage.read(k) for k in payloads))
    assert read == list(payloads.values())


async def test_keys_cannot_escape_the_store(storage: Storage) -> None:
    for bad in ("../etc/passwd", "/abs.pdf", "a/../../b.pdf"):
        with pytest.raises(StorageError):
            await storage.put(bad, b"x")

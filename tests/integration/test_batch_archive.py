"""A batch's ZIP is streamed as it is built: its first entries leave before the last PDF is
read from storage, entries are stored as they are (no recompression), and the archive is one
any unzip reads."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from pdfprompt.actions import batch_archive
from pdfprompt.domain import FileInfo
from pdfprompt.queue import BatchFile
from tests.support.waiting import until


class GatedStorage:
    """Serves stored bytes in small chunks; the key `held` is served only once `gate` is
    set, and every key is recorded when its reading starts."""

    def __init__(self, blobs: dict[str, bytes], held: str) -> None:
        self.blobs = blobs
        self.held = held
        self.gate = asyncio.Event()
        self.started: list[str] = []

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        self.started.append(key)
        if key == self.held:
            await self.gate.wait()
        data = self.blobs[key]
        for at in range(0, len(data), 1000):
            yield data[at : at + 1000]


def _file(n: int, size: int) -> BatchFile:
    info = FileInfo(
        id=f"f{n}",
        size_bytes=size,
        pages=1,
        filename=f"{n}.pdf",
        storage_key=f"k{n}",
        content_type="application/pdf",
    )
    return BatchFile(n, f"doc-{n}.pdf", info)


async def test_the_archive_streams_before_the_last_pdf_is_read() -> None:
    blobs = {f"k{n}": b"%PDF-1.7 " + bytes([n]) * (5000 + n) for n in range(4)}
    storage = GatedStorage(blobs, held="k3")
    files = [_file(n, len(blobs[f"k{n}"])) for n in range(4)]
    received = bytearray()

    async def download() -> None:
        async for chunk in batch_archive(SimpleNamespace(storage=storage), files):  # type: ignore[arg-type]
            received.extend(chunk)

    task = asyncio.create_task(download())
    await until(lambda: "k3" in storage.started, 10, "the last PDF asked for")
    # The first three PDFs are already sent; the last is not read yet.
    assert len(received) > sum(len(blobs[f"k{n}"]) for n in range(3))
    assert not storage.gate.is_set() and not task.done()
    storage.gate.set()
    await asyncio.wait_for(task, 10)
    with zipfile.ZipFile(io.BytesIO(bytes(received))) as archive:
        assert archive.namelist() == [f"doc-{n}.pdf" for n in range(4)]
        for n, info in enumerate(archive.infolist()):
            assert info.compress_type == zipfile.ZIP_STORED
            assert archive.read(info) == blobs[f"k{n}"]
        assert archive.testzip() is None


async def test_a_pdf_no_longer_stored_is_left_out() -> None:
    from pdfprompt.domain import NotFoundError

    class Missing(GatedStorage):
        async def stream(self, key: str, start: int = 0, end: int | None = None) -> Any:
            if key == "k1":
                raise NotFoundError("gone")
                yield b""
            async for chunk in super().stream(key):
                yield chunk

    blobs = {"k0": b"%PDF-a", "k2": b"%PDF-c"}
    storage = Missing(blobs, held="none")
    files = [_file(0, 6), _file(1, 6), _file(2, 6)]
    received = b"".join([c async for c in batch_archive(SimpleNamespace(storage=storage), files)])  # type: ignore[arg-type]
    with zipfile.ZipFile(io.BytesIO(received)) as archive:
        assert archive.namelist() == ["doc-0.pdf", "doc-2.pdf"]

"""Small documents that make a renderer produce a huge PDF or use a lot of memory, and a
sampler of this process's memory while they run."""

from __future__ import annotations

import base64
import functools
import os
import struct
import threading
import zlib
from collections.abc import Callable
from types import TracebackType

import psutil

MB = 1024 * 1024


def noise_pages(pages: int = 1) -> str:
    """A few hundred bytes of HTML whose pages are each one A4 sheet of SVG noise
    (`feTurbulence`): Chromium rasterizes the filter at 300 dpi into the PDF, about 30 MB a
    page that does not compress. WeasyPrint draws no SVG filter."""
    sheet = (
        "<svg width=794 height=1123 style='display:block;break-after:page'>"
        "<filter id=f{i} x=0 y=0 width=1 height=1>"
        "<feTurbulence baseFrequency=0.9 numOctaves=1 seed={i} /></filter>"
        "<rect width=794 height=1123 filter='url(#f{i})' /></svg>"
    )
    return "<style>@page { margin: 0 } body { margin: 0 }</style>" + "".join(
        sheet.format(i=i) for i in range(pages)
    )


def _png(side: int, row: Callable[[], bytes]) -> bytes:
    """An RGB PNG of `side` x `side` pixels whose rows `row` makes (compressed one by one, so
    the raw image is never held whole)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(b"\x00" + row()) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def noise_png(side: int) -> bytes:
    """A PNG of `side` x `side` random pixels: it does not compress, so a PDF carries all of
    it."""
    return _png(side, lambda: os.urandom(side * 3))


def noise_image(side: int) -> str:
    """An <img> of random pixels (a data: URI): it does not compress, so the PDF carries all
    of it (700 px: about 1.5 MB)."""
    data = base64.b64encode(noise_png(side)).decode()
    return f"<img src='data:image/png;base64,{data}' width=300>"


@functools.cache
def huge_image(side: int = 9000) -> str:
    """An <img> of a black PNG of `side` x `side` pixels shown 100 px wide: about 320 KB of
    HTML that decodes to `side`² x 3 or 4 bytes (9000 px: 243 MB as RGB) in whatever draws
    it."""
    black = b"\x00" * (side * 3)
    data = base64.b64encode(_png(side, lambda: black)).decode()
    return f"<img src='data:image/png;base64,{data}' style='width: 100px'>"


class PeakRss:
    """The most this process's resident memory grew over what it was on entering, sampled
    every few milliseconds by a thread while the block runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.start = 0
        self.peak = 0

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._process.memory_info().rss)
            if self._stop.wait(0.005):
                return

    def __enter__(self) -> PeakRss:
        self.start = self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start

"""Where PDFs users bring are worked on: each operation in a fresh child process
(`pdf/child.py`) whose memory and CPU time are capped, stopped at a wall-clock limit too, at
most `processes` at a time. The files go to the child and come back through a private
temporary directory; whatever stops the child, the caller gets a `PdfPromptError` with a
code (never a half-written file)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdfprompt.domain import (
    PageLimitExceededError,
    PageRangeError,
    PdfEncryptedError,
    PdfLimits,
    PdfMalformedError,
    PdfPromptError,
    PdfTimeoutError,
    PdfTooComplexError,
)

_ERRORS: dict[str, type[PdfPromptError]] = {
    e.code: e
    for e in (
        PdfMalformedError,
        PdfEncryptedError,
        PdfTooComplexError,
        PageLimitExceededError,
        PageRangeError,
    )
}


@dataclass(frozen=True, slots=True)
class PdfPart:
    """A PDF given to an operation: its bytes, how errors name it, its outline title (None:
    its own title, else its file name) and its file name (a split's parts are named after
    it)."""

    data: bytes
    name: str
    title: str | None = None
    file_name: str = ""


@dataclass(frozen=True, slots=True)
class PdfMade:
    """What an operation made: the bytes (a PDF, or a split's ZIP archive), the pages in
    them (a split's: in all its parts), the first page's thumbnail (PNG; None when none
    could be drawn) and a split's entries (`{"name", "pages", "size_bytes"}`)."""

    data: bytes
    pages: int
    thumbnail: bytes | None = None
    entries: tuple[dict[str, Any], ...] = ()


class PdfWorkshop:
    """Runs `merge`, `split`, `rewrite`, `thumbnail` and `inspect` on PDFs in child
    processes within `limits`, at most `processes` at once for the worker's jobs and as
    many for uploads checked in threads."""

    def __init__(self, limits: PdfLimits, *, processes: int = 2) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(processes)  # the worker's jobs
        self._blocking_slots = threading.BoundedSemaphore(processes)  # uploads, in threads
        self.stopped = 0  # children stopped at the time limit

    async def merge(
        self, parts: Sequence[PdfPart], meta: dict[str, str], *, watermark: bool = False
    ) -> PdfMade:
        """The parts as one PDF, an outline entry for each, their page labels kept; `meta`:
        document information (title, author, subject, keywords); `watermark`: the plan's
        on every page."""
        return await self._run("merge", parts, meta=meta, watermark=watermark)

    async def split(
        self, part: PdfPart, ranges: str, meta: dict[str, str], *, watermark: bool = False
    ) -> PdfMade:
        """One PDF for each range, in a ZIP archive."""
        return await self._run("split", [part], meta=meta, ranges=ranges, watermark=watermark)

    async def rewrite(
        self, part: PdfPart, meta: dict[str, str], *, watermark: bool = False
    ) -> PdfMade:
        """The PDF read and written again (repaired, unsafe actions dropped)."""
        return await self._run("rewrite", [part], meta=meta, watermark=watermark)

    async def thumbnail(self, pdf: bytes) -> bytes | None:
        """The first page of `pdf` (a finished PDF) drawn in a child; None when it cannot
        be."""
        try:
            made = await self._run("thumbnail", [PdfPart(pdf, "the PDF")], meta={})
        except PdfPromptError:
            return None
        return made.thumbnail

    def inspect(self, data: bytes) -> int:
        """The pages of an upload, checked within the limits (blocking: run it in a
        thread); the errors of the checks."""
        with tempfile.TemporaryDirectory(prefix="pdfprompt-pdf-") as tmp:
            request = self._request(Path(tmp), "inspect", [PdfPart(data, "the file")], {}, None)
            with self._blocking_slots:
                answer = self._exchange_blocking(request)
        return int(answer.get("pages", 0))

    async def _run(
        self,
        op: str,
        parts: Sequence[PdfPart],
        *,
        meta: dict[str, str],
        ranges: str | None = None,
        watermark: bool = False,
    ) -> PdfMade:
        with tempfile.TemporaryDirectory(prefix="pdfprompt-pdf-") as name:
            tmp = Path(name)
            request = await asyncio.to_thread(self._request, tmp, op, parts, meta, ranges)
            request["watermark"] = watermark
            async with self._slots:
                answer = await self._exchange(request)
            out, thumb = Path(request["out"]), Path(request["thumbnail"])
            data = out.read_bytes() if out.exists() else b""
            thumbnail = thumb.read_bytes() if answer.get("thumbnail") else None
        return PdfMade(
            data,
            int(answer.get("pages", 0)),
            thumbnail,
            tuple(answer.get("entries", ())),
        )

    def _request(
        self,
        tmp: Path,
        op: str,
        parts: Sequence[PdfPart],
        meta: dict[str, str],
        ranges: str | None,
    ) -> dict[str, Any]:
        sources = []
        for n, part in enumerate(parts):
            path = tmp / f"in-{n}.pdf"
            path.write_bytes(part.data)
            sources.append(
                {
                    "path": str(path),
                    "name": part.name,
                    "title": part.title,
                    "file_name": part.file_name,
                }
            )
        return {
            "op": op,
            "sources": sources,
            "ranges": ranges,
            "meta": meta,
            "limits": self.limits.as_dict(),
            "out": str(tmp / "out"),
            "thumbnail": str(tmp / "thumbnail.png"),
        }

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "pdfprompt.pdf.child"]

    async def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        process = await asyncio.create_subprocess_exec(
            *self._command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            stdout, _ = await asyncio.wait_for(
                process.communicate(json.dumps(request).encode()), self.limits.timeout_s
            )
        except TimeoutError:
            self.stopped += 1
            raise PdfTimeoutError(
                f"working on the PDF took longer than {self.limits.timeout_s:g} s"
            ) from None
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(Exception):
                    await process.wait()
        return self._answer(process.returncode, stdout)

    def _exchange_blocking(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            done = subprocess.run(
                self._command(),
                input=json.dumps(request).encode(),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=self.limits.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.stopped += 1
            raise PdfTimeoutError(
                f"reading the PDF took longer than {self.limits.timeout_s:g} s", transient=False
            ) from None
        return self._answer(done.returncode, done.stdout)

    def _answer(self, returncode: int | None, stdout: bytes) -> dict[str, Any]:
        """The child's answer, or the error it stopped with."""
        answer: dict[str, Any] | None = None
        with contextlib.suppress(ValueError):
            lines = stdout.strip().splitlines()
            answer = json.loads(lines[-1]) if lines else None
        if isinstance(answer, dict) and answer.get("ok") is True and returncode == 0:
            return answer
        if isinstance(answer, dict) and answer.get("ok") is False:
            error = _ERRORS.get(str(answer.get("code")), PdfMalformedError)
            raise error(str(answer.get("message", "the PDF cannot be read")), transient=False)
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise PdfTooComplexError(
                f"reading the PDF took more than the {self.limits.cpu_s} s of CPU time allowed"
            )
        raise PdfTooComplexError(
            "reading the PDF stopped its process (it needed more memory than the "
            f"{self.limits.memory_bytes // (1024 * 1024)} MB allowed)"
        )

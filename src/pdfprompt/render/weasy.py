"""HTML → PDF with WeasyPrint, the fallback when no Chromium is found.

WeasyPrint is pure Python and CPU-bound, so it runs in worker processes
(`MAX_PDF_CONCURRENCY` of them, one render each at a time), never on the event
loop. A render that runs out of time or whose job is cancelled is stopped by
killing its process, which is replaced; renders in the other processes go on. Its URL
fetcher answers `data:` URIs only: everything else (http(s), file:, ftp:, …)
is refused, so the sandbox rules of the Chromium renderer hold here too. It
runs no JavaScript.

Options become an `@page` stylesheet (size, orientation, margins, header and
footer as running elements with page counters; `pdfprompt.render.document`);
`page_ranges` picks pages of the laid-out document. `scale` has no WeasyPrint
equivalent and is ignored.

A render process has `memory_limit_mb` of address space (`RLIMIT_AS`): past it, its
render fails with `render_memory_exceeded` and the process is replaced. It writes the PDF
into a buffer that refuses to grow past the byte limit, so a PDF over it is never sent
back. An error WeasyPrint raises on a document is raised again on every try, so it fails
the render for good (`render_refused`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import resource
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

from pdfprompt.domain import (
    BrowserUnavailableError,
    FileTooLargeError,
    PageLimitExceededError,
    PdfPromptError,
    RenderError,
    RenderMemoryExceededError,
    RenderOptions,
    RenderRefusedError,
    RenderTimeoutError,
    page_numbers,
    refused_warnings,
)
from pdfprompt.render.base import DEFAULT_MAX_PDF_BYTES, RenderedPdf, Resources, render_limit
from pdfprompt.render.document import weasyprint_document, weasyprint_page_css

log = logging.getLogger(__name__)


class _TooManyPages(Exception):
    """Layout passed the page limit: the rest of the document is not laid out."""


def _stop_layout_after(limit: int | None) -> None:
    """Make this process's WeasyPrint stop laying out a document at page `limit` + 1 (None:
    lay out every page). WeasyPrint lays out every page before it returns any, so without
    this a document far over the limit costs its whole layout (or the render timeout)
    before it fails. It wraps `weasyprint.layout.make_all_pages`, the generator that
    `layout_document` draws the pages from on each pagination pass; a WeasyPrint without it
    lays out every page, and the limit is checked afterwards as before."""
    import weasyprint.layout as layout

    make_all_pages = getattr(layout, "_pdfprompt_make_all_pages", None) or getattr(
        layout, "make_all_pages", None
    )
    if make_all_pages is None:  # another WeasyPrint: the limit is checked after layout
        return
    layout._pdfprompt_make_all_pages = make_all_pages

    def capped(*args: Any) -> Any:
        for number, page in enumerate(make_all_pages(*args), 1):
            if limit is not None and number > limit:
                raise _TooManyPages
            yield page

    layout.make_all_pages = capped


class _CappedBuffer(io.BytesIO):
    """The PDF as WeasyPrint writes it, refused (`FileTooLargeError`) as soon as it passes
    `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.max_bytes:
            raise FileTooLargeError.over(self.max_bytes)
        return super().write(data)


def _render_in_process(
    document: str,
    options: dict[str, Any],
    max_pages: int,
    max_bytes: int,
    resources: dict[str, tuple[bytes, str]] | None = None,
) -> tuple[bytes, int, list[str]]:
    """Runs in a pool process: lay out, check the page limit, write the PDF (at most
    `max_bytes` of it). Returns it, its pages, and the addresses the document asked for that
    were refused. The URLs of `resources` are answered with their bytes."""
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    refused: list[str] = []

    class Fetcher(URLFetcher):  # type: ignore[misc]
        """Only data: URIs and the render's resources are answered; every other address is
        refused and noted."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            served = (resources or {}).get(url)
            if served is not None:
                return URLFetcherResponse(url, served[0], {"Content-Type": served[1]})
            if not url.lower().startswith("data:"):
                refused.append(url)
            return super().fetch(url, headers)

    opts = RenderOptions.from_dict(options)
    fetcher = Fetcher(allowed_protocols=["data"], allow_redirects=False)
    html = HTML(
        string=weasyprint_document(document, opts),
        url_fetcher=fetcher,
        base_url=None,
        media_type=opts.css_media,
    )
    # Without page ranges every page is printed, so layout stops one page past the limit (as
    # Chromium's print does). With them the limit is on the pages picked, and the document's
    # own length (its `counter(pages)`) needs the whole layout.
    _stop_layout_after(None if opts.page_ranges else max_pages)
    try:
        stylesheet = CSS(string=weasyprint_page_css(opts), url_fetcher=fetcher)
        laid_out = html.render(stylesheets=[stylesheet])
    except _TooManyPages:
        raise PageLimitExceededError.over(max_pages) from None
    total = len(laid_out.pages)
    if opts.page_ranges:
        laid_out = laid_out.copy(
            [laid_out.pages[i - 1] for i in page_numbers(opts.page_ranges, total)]
        )
    pages = len(laid_out.pages)
    if pages > max_pages:
        raise PageLimitExceededError.over(max_pages, pages=pages)
    target = _CappedBuffer(max_bytes)
    laid_out.write_pdf(target, pdf_tags=opts.tagged)
    return target.getvalue(), pages, refused


def _serve(conn: Connection, memory_limit_mb: int) -> None:
    """A render process: import WeasyPrint, take on the memory limit, say so, then render
    what arrives until None. It ends after running out of memory (its state is not to be
    trusted any more)."""
    import weasyprint  # noqa: F401 - the import is the slow part of a first render

    limit = memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send("ready")
    while (work := conn.recv()) is not None:
        try:
            answer: tuple[str, Any] = ("ok", _render_in_process(*work))
        except PdfPromptError as exc:
            answer = ("error", exc)
        except MemoryError:
            answer = ("error", _out_of_memory(memory_limit_mb))
        except Exception as exc:
            answer = ("error", _refused(exc))
        try:
            conn.send(answer)
        except Exception as exc:  # an error that cannot be pickled
            conn.send(("error", RenderError(f"WeasyPrint failed: {type(exc).__name__}: {exc}")))
        if isinstance(answer[1], RenderMemoryExceededError):
            return


def _out_of_memory(memory_limit_mb: int) -> RenderMemoryExceededError:
    return RenderMemoryExceededError(
        f"the render passed the memory limit: WeasyPrint ran out of its {memory_limit_mb} MB "
        "of address space and was stopped"
    )


def _refused(exc: Exception) -> RenderRefusedError:
    """WeasyPrint raised on the document: it does again on every try."""
    return RenderRefusedError(
        f"WeasyPrint cannot render this document: {type(exc).__name__}: {exc}"
    )


class _Slot:
    """One render process and the parent's end of its pipe: one render at a time, so a
    render that must stop (timeout, cancellation) is stopped by killing its process alone."""

    def __init__(self, memory_limit_mb: int) -> None:
        # Spawned, not forked: the parent runs an event loop and threads.
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, memory_limit_mb), daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    async def wait_ready(self) -> None:
        if not self.ready:
            if await asyncio.to_thread(self.conn.recv) != "ready":
                raise BrowserUnavailableError("a WeasyPrint process did not start")
            self.ready = True

    async def render(
        self, work: tuple[str, dict[str, Any], int, int, dict[str, tuple[bytes, str]]]
    ) -> tuple[bytes, int, list[str]]:
        self.conn.send(work)
        kind, value = await asyncio.to_thread(self.conn.recv)
        if kind == "error":
            raise value
        data, pages, refused = value
        return data, pages, refused

    def kill(self) -> None:
        """Stop the process at once. The pipe is left to close when nothing uses it: a
        thread may still be reading it (it reads the end of the file and returns), and
        closing it under that thread could hand its number to the next slot's pipe."""
        self.process.kill()
        self.process.join(5)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class WeasyPrintRenderer:
    """`processes` WeasyPrint processes, one render each at a time. Use as
    `async with WeasyPrintRenderer(...) as r`."""

    def __init__(
        self,
        *,
        processes: int = 2,
        timeout_s: float = 30.0,
        max_pages: int = 500,
        max_bytes: int = DEFAULT_MAX_PDF_BYTES,
        memory_limit_mb: int = 2048,
    ) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.memory_limit_mb = memory_limit_mb
        self.renders = 0
        self.rendering = 0  # renders handed to a process now
        self._idle: asyncio.Queue[_Slot] | None = None
        self._slots: set[_Slot] = set()

    @property
    def name(self) -> str:
        return "weasyprint"

    async def __aenter__(self) -> WeasyPrintRenderer:
        self._idle = asyncio.Queue()
        slots = [self._start() for _ in range(self.processes)]
        try:
            await asyncio.gather(*(slot.wait_ready() for slot in slots))
        except BaseException:
            await self.__aexit__()
            raise
        for slot in slots:
            self._idle.put_nowait(slot)
        return self

    async def __aexit__(self, *exc: object) -> None:
        slots, self._slots, self._idle = list(self._slots), set(), None
        await asyncio.gather(*(asyncio.to_thread(slot.stop) for slot in slots))

    def _start(self) -> _Slot:
        slot = _Slot(self.memory_limit_mb)
        self._slots.add(slot)
        return slot

    def _replace(self, slot: _Slot) -> _Slot:
        """Kill the slot's process (its render cannot be stopped otherwise) for a new one."""
        slot.kill()
        self._slots.discard(slot)
        return self._start()

    async def render(
        self,
        document: str,
        options: RenderOptions,
        max_pages: int | None = None,
        max_bytes: int | None = None,
        resources: Resources | None = None,
    ) -> RenderedPdf:
        idle = self._idle
        if idle is None:
            raise BrowserUnavailableError("the WeasyPrint processes are not running")
        slot = await idle.get()
        try:
            # Waiting for a new process to start does not count against the timeout.
            await slot.wait_ready()
            work = (
                document,
                asdict(options),
                render_limit(self.max_pages, max_pages),
                render_limit(self.max_bytes, max_bytes),
                dict(resources or {}),
            )
            self.rendering += 1
            try:
                data, pages, refused = await asyncio.wait_for(slot.render(work), self.timeout_s)
            finally:
                self.rendering -= 1
        except RenderMemoryExceededError:
            slot = self._replace(slot)  # it has ended: a new one takes its place
            raise
        except TimeoutError as exc:
            slot = self._replace(slot)
            raise RenderTimeoutError(
                f"rendering took longer than {self.timeout_s:g} s and was stopped"
            ) from exc
        except asyncio.CancelledError:
            slot = self._replace(slot)  # the job was cancelled: stop its render now
            raise
        except (EOFError, OSError) as exc:
            slot = self._replace(slot)
            raise BrowserUnavailableError("a WeasyPrint process stopped during the render") from exc
        finally:
            if self._idle is idle:
                idle.put_nowait(slot)
        self.renders += 1
        return RenderedPdf(data, pages, refused_warnings(refused))

    async def check(self) -> None:
        if self._idle is None or not all(s.process.is_alive() for s in self._slots):
            raise BrowserUnavailableError("the WeasyPrint processes are not running")

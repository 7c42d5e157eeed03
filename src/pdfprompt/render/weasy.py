"""HTML → PDF with WeasyPrint, the fallback when no Chromium is found.

WeasyPrint is pure Python and CPU-bound, so it runs in a pool of worker
processes (`MAX_PDF_CONCURRENCY` of them), never on the event loop. Its URL
fetcher answers `data:` URIs only: everything else (http(s), file:, ftp:, …)
is refused, so the sandbox rules of the Chromium renderer hold here too. It
runs no JavaScript.

Options become an `@page` stylesheet (size, orientation, margins, header and
footer as running elements with page counters); `page_ranges` picks pages of
the laid-out document. `scale` has no WeasyPrint equivalent and is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from typing import Any

from pdfprompt.domain import (
    BrowserUnavailableError,
    PageLimitExceededError,
    PdfPromptError,
    RenderError,
    RenderOptions,
    RenderTimeoutError,
    page_numbers,
)
from pdfprompt.render.chromium import RenderedPdf, with_title

log = logging.getLogger(__name__)

_PAGE_NUMBER = '<span class="pdfprompt-page"></span>'
_PAGE_TOTAL = '<span class="pdfprompt-pages"></span>'


def page_css(options: RenderOptions) -> str:
    """The `@page` rules and running header/footer styles for the options."""
    if options.width and options.height:
        size = f"{options.width} {options.height}"
    else:
        size = f"{options.format} {'landscape' if options.landscape else 'portrait'}"
    m = options.margin
    # `!important`: the options win over the document's own @page rules, as with Chromium
    # (a user stylesheet's important declarations beat the author's).
    rules = [
        f"size: {size} !important;",
        f"margin: {m.top} {m.right} {m.bottom} {m.left} !important;",
    ]
    if options.header_html:
        rules.append("@top-center { content: element(pdfprompt-header); width: 100%; }")
    if options.footer_html:
        rules.append("@bottom-center { content: element(pdfprompt-footer); width: 100%; }")
    return (
        "@page { " + " ".join(rules) + " }"
        ".pdfprompt-header { position: running(pdfprompt-header); }"
        ".pdfprompt-footer { position: running(pdfprompt-footer); }"
        ".pdfprompt-header, .pdfprompt-footer { font-family: 'Noto Sans', 'DejaVu Sans',"
        " sans-serif; font-size: 9px; color: #555; }"
        ".pdfprompt-page::after { content: counter(page); }"
        ".pdfprompt-pages::after { content: counter(pages); }"
    )


def _running(kind: str, template: str | None) -> str:
    if not template:
        return ""
    body = template.replace("{{page}}", _PAGE_NUMBER).replace("{{pages}}", _PAGE_TOTAL)
    return f'<div class="pdfprompt-{kind}">{body}</div>'


def prepared_document(document: str, options: RenderOptions) -> str:
    """The document with its title, and the header/footer elements placed first in the
    body (running elements must come before the content of the pages they head)."""
    document = with_title(document, options.title)
    running = _running("header", options.header_html) + _running("footer", options.footer_html)
    if not running:
        return document
    placed, n = re.subn(
        r"<body\b[^>]*>", lambda m: m.group(0) + running, document, count=1, flags=re.I
    )
    return placed if n else running + document


def _render_in_process(document: str, options: dict[str, Any], max_pages: int) -> tuple[bytes, int]:
    """Runs in a pool process: lay out, check the page limit, write the PDF."""
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    opts = RenderOptions.from_dict(options)
    fetcher = URLFetcher(allowed_protocols=["data"], allow_redirects=False)
    html = HTML(string=prepared_document(document, opts), url_fetcher=fetcher, base_url=None)
    laid_out = html.render(stylesheets=[CSS(string=page_css(opts), url_fetcher=fetcher)])
    total = len(laid_out.pages)
    if opts.page_ranges:
        laid_out = laid_out.copy(
            [laid_out.pages[i - 1] for i in page_numbers(opts.page_ranges, total)]
        )
    pages = len(laid_out.pages)
    if pages > max_pages:
        raise PageLimitExceededError(f"the document has {pages} pages; the limit is {max_pages}")
    data = laid_out.write_pdf()
    assert data is not None
    return data, pages


def _warm() -> None:
    import weasyprint  # noqa: F401 - the import is the slow part of a first render


class WeasyPrintRenderer:
    """A pool of WeasyPrint processes. Use as `async with WeasyPrintRenderer(...) as r`."""

    def __init__(
        self, *, processes: int = 2, timeout_s: float = 30.0, max_pages: int = 500
    ) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self.max_pages = max_pages
        self.renders = 0
        self._pool: ProcessPoolExecutor | None = None
        self._warming: asyncio.Future[list[None]] | None = None

    @property
    def name(self) -> str:
        return "weasyprint"

    async def _ready_pool(self) -> ProcessPoolExecutor:
        """The pool, started (and warmed: WeasyPrint's import takes a second) if needed.
        Waiting for the warm-up does not count against a render's timeout."""
        if self._pool is None:
            # Spawned, not forked: the parent runs an event loop and threads.
            context = multiprocessing.get_context("spawn")
            pool = self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
            loop = asyncio.get_running_loop()
            self._warming = asyncio.gather(
                *(loop.run_in_executor(pool, _warm) for _ in range(self.processes))
            )
        pool = self._pool
        if self._warming is not None:
            await asyncio.shield(self._warming)
            self._warming = None
        return pool

    async def __aenter__(self) -> WeasyPrintRenderer:
        await self._ready_pool()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop(self._pool)

    def _stop(self, pool: ProcessPoolExecutor | None, *, kill: bool = False) -> None:
        """Stop `pool` if it is still the current one (another render may have replaced it)."""
        if pool is None or pool is not self._pool:
            return
        self._pool, self._warming = None, None
        if kill:
            # A render that ran out of time cannot be cancelled inside its process: the
            # processes are stopped and the pool started again. (`ProcessPoolExecutor` has
            # no public way to do this before Python 3.14.)
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)

    async def render(self, document: str, options: RenderOptions) -> RenderedPdf:
        loop = asyncio.get_running_loop()
        pool = None
        try:
            pool = await self._ready_pool()
            future = loop.run_in_executor(
                pool, _render_in_process, document, asdict(options), self.max_pages
            )
            data, pages = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError as exc:
            self._stop(pool, kill=True)
            raise RenderTimeoutError(
                f"rendering took longer than {self.timeout_s:g} s and was stopped"
            ) from exc
        except BrokenProcessPool as exc:
            self._stop(pool, kill=True)
            raise BrowserUnavailableError("a WeasyPrint process stopped during the render") from exc
        except PdfPromptError:
            raise
        except Exception as exc:
            raise RenderError(f"WeasyPrint failed: {type(exc).__name__}: {exc}") from exc
        self.renders += 1
        return RenderedPdf(data, pages)

    async def check(self) -> None:
        if self._pool is None:
            raise BrowserUnavailableError("the WeasyPrint pool is not running")

"""HTML → PDF in a warm headless-Chromium pool, with the network sandboxed.

`BROWSER_POOL_SIZE` browsers are started once; `MAX_PDF_CONCURRENCY` pages
are spread over them and reused, so a render costs a `setContent` and a
`printToPDF`, never a browser start. Every request a page makes is answered
by the renderer: `data:` URIs pass (they never reach the network layer) and
everything else is refused, so hostile HTML cannot reach the network or the
file system.
"""

from __future__ import annotations

import asyncio
import contextlib
import html as html_lib
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route, async_playwright
from playwright.async_api import Error as PlaywrightError

from pdfprompt.domain import (
    BrowserUnavailableError,
    PageLimitExceededError,
    RenderError,
    RenderOptions,
    RenderTimeoutError,
)

log = logging.getLogger(__name__)

# How a headless Chromium is started on this kind of machine (what a bare reference loop
# uses too); pdfprompt's pool adds its own hardening below.
HEADLESS_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROMIUM_ARGS = (
    *HEADLESS_ARGS,
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--font-render-hinting=none",
    # A second wall behind the request interception: some requests (<link rel=prefetch>)
    # are made by the browser itself and never reach the page's router. Everything is sent
    # to a proxy that does not exist, loopback included, and no host name resolves.
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
MEMORY_CHECK_EVERY = 25  # renders on a browser between checks of its memory
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_HEAD_FOOT_STYLE = (
    "<style>#header, #footer { padding: 0 !important; }"
    ".pdfprompt-hf { font-family: 'Noto Sans', 'DejaVu Sans', sans-serif; font-size: 9px;"
    " width: 100%; margin: 0 12mm; color: #555; }</style>"
)


def _pss_mb(pids: list[int]) -> float:
    """Proportional set size of these processes, in MB (shared pages counted once overall)."""
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return total_kb / 1024


async def _browser_mb(browser: Browser) -> float:
    """What a browser's processes use, by their ids from CDP `SystemInfo.getProcessInfo`."""
    session = await browser.new_browser_cdp_session()
    try:
        info = await session.send("SystemInfo.getProcessInfo")
    finally:
        await session.detach()
    return await asyncio.to_thread(_pss_mb, [p["id"] for p in info["processInfo"]])


def count_pages(pdf: bytes) -> int:
    """Pages in a PDF Chromium wrote (its page objects are not in compressed streams)."""
    return len(_PAGE_OBJECT.findall(pdf))


def _header_footer(template: str | None) -> str:
    if not template:
        return "<span></span>"
    body = template.replace("{{page}}", '<span class="pageNumber"></span>').replace(
        "{{pages}}", '<span class="totalPages"></span>'
    )
    return f'{_HEAD_FOOT_STYLE}<div class="pdfprompt-hf">{body}</div>'


def with_title(document: str, title: str | None) -> str:
    """Chromium writes the document's <title> as the PDF title."""
    if not title:
        return document
    tag = f"<title>{html_lib.escape(title)}</title>"
    replaced, n = re.subn(
        r"<title\b[^>]*>.*?</title\s*>", tag, document, count=1, flags=re.I | re.S
    )
    if n:
        return replaced
    replaced, n = re.subn(
        r"<head\b[^>]*>", lambda m: m.group(0) + tag, document, count=1, flags=re.I
    )
    return replaced if n else tag + document


def pdf_arguments(options: RenderOptions) -> dict[str, Any]:
    """`page.pdf` keyword arguments for the options."""
    args: dict[str, Any] = {
        "landscape": options.landscape,
        "print_background": options.print_background,
        "scale": options.scale,
        "margin": {
            "top": options.margin.top,
            "right": options.margin.right,
            "bottom": options.margin.bottom,
            "left": options.margin.left,
        },
        "prefer_css_page_size": False,
        "tagged": False,
        "outline": False,
    }
    if options.width and options.height:
        args["width"] = options.width
        args["height"] = options.height
    else:
        args["format"] = options.format
    if options.header_html or options.footer_html:
        args["display_header_footer"] = True
        args["header_template"] = _header_footer(options.header_html)
        args["footer_template"] = _header_footer(options.footer_html)
    if options.page_ranges:
        args["page_ranges"] = options.page_ranges
    return args


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    data: bytes
    pages: int


@dataclass
class _BrowserSlot:
    index: int
    browser: Browser | None = None
    context: BrowserContext | None = None
    renders: int = 0
    generation: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    over_memory: bool = False
    # Renders in flight per browser generation, and retired browsers (replaced by a newer
    # generation) that close once their last render is done.
    in_flight: dict[int, int] = field(default_factory=dict)
    retired: dict[int, Browser] = field(default_factory=dict)


@dataclass
class _PageLease:
    slot: _BrowserSlot
    page: Page | None
    generation: int


class ChromiumRenderer:
    """A pool of warm Chromium pages. Use as `async with ChromiumRenderer(...) as r`."""

    def __init__(
        self,
        executable_path: str,
        *,
        pool_size: int = 1,
        max_concurrency: int = 2,
        timeout_s: float = 30.0,
        allow_javascript: bool = False,
        recycle_after: int = 1000,
        max_memory_mb: float = 1024.0,
        max_pages: int = 500,
    ) -> None:
        self.executable_path = executable_path
        self.pool_size = pool_size
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.allow_javascript = allow_javascript
        self.recycle_after = recycle_after
        self.max_memory_mb = max_memory_mb
        self.max_pages = max_pages
        self.renders = 0
        self.recycled = 0
        self.blocked_requests = 0
        self._pw: Playwright | None = None
        self._slots: list[_BrowserSlot] = []
        self._pages: asyncio.Queue[_PageLease] = asyncio.Queue()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return "chromium"

    async def __aenter__(self) -> ChromiumRenderer:
        self._pw = await async_playwright().start()
        try:
            self._slots = [_BrowserSlot(i) for i in range(self.pool_size)]
            for slot in self._slots:
                await self._start_browser(slot)
            for i in range(self.max_concurrency):
                slot = self._slots[i % self.pool_size]
                self._pages.put_nowait(await self._new_lease(slot))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=5)
        for slot in self._slots:
            await self._close_browser(slot)
            for generation in list(slot.retired):
                await self._close_retired(slot, generation)
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await self._pw.stop()
            self._pw = None

    async def _start_browser(self, slot: _BrowserSlot) -> None:
        assert self._pw is not None
        try:
            slot.browser = await self._pw.chromium.launch(
                executable_path=self.executable_path,
                headless=True,
                chromium_sandbox=False,
                args=list(CHROMIUM_ARGS),
            )
            slot.context = await slot.browser.new_context(
                java_script_enabled=self.allow_javascript,
                service_workers="block",
                accept_downloads=False,
                offline=False,
            )
            await slot.context.route("**/*", self._refuse)
        except PlaywrightError as exc:
            raise BrowserUnavailableError(f"could not start Chromium: {exc.message}") from exc
        slot.renders = 0
        slot.generation += 1

    async def _close_browser(self, slot: _BrowserSlot) -> None:
        browser, slot.browser, slot.context = slot.browser, None, None
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.close()

    async def _refuse(self, route: Route) -> None:
        """Answer every request here. A navigation (meta refresh, a frame's src) gets
        204 No Content, which leaves the current document in place; anything else fails."""
        self.blocked_requests += 1
        with contextlib.suppress(PlaywrightError):
            if route.request.is_navigation_request():
                await route.fulfill(status=204, body=b"")
            else:
                await route.abort("blockedbyclient")

    async def _new_lease(self, slot: _BrowserSlot) -> _PageLease:
        if slot.context is None:
            await self._start_browser(slot)
        assert slot.context is not None
        try:
            page = await slot.context.new_page()
        except PlaywrightError as exc:
            raise BrowserUnavailableError(f"could not open a page: {exc.message}") from exc
        return _PageLease(slot, page, slot.generation)

    async def _fresh(self, lease: _PageLease) -> _PageLease:
        """The lease's page, replaced when its browser was restarted or recycled. A browser is
        recycled after `recycle_after` renders or above `max_memory_mb`: a new one takes its
        place at once and the old one closes when the renders still on it are done."""
        slot = lease.slot
        async with slot.lock:
            if slot.browser is None or not slot.browser.is_connected():
                await self._close_browser(slot)
                await self._start_browser(slot)
            elif lease.generation == slot.generation and (
                slot.renders >= self.recycle_after or slot.over_memory
            ):
                why = "memory" if slot.over_memory else f"{slot.renders} renders"
                log.info("recycling browser %d (%s)", slot.index, why)
                self._retire(slot)
                await self._start_browser(slot)
            if lease.generation != slot.generation or lease.page is None or lease.page.is_closed():
                return await self._new_lease(slot)
        return lease

    def _retire(self, slot: _BrowserSlot) -> None:
        browser, slot.browser, slot.context = slot.browser, None, None
        slot.over_memory = False
        self.recycled += 1
        if browser is not None:
            slot.retired[slot.generation] = browser
            if not slot.in_flight.get(slot.generation):
                self._background(self._close_retired(slot, slot.generation))

    async def _close_retired(self, slot: _BrowserSlot, generation: int) -> None:
        browser = slot.retired.pop(generation, None)
        slot.in_flight.pop(generation, None)
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.close()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _began(self, lease: _PageLease) -> None:
        slot = lease.slot
        slot.in_flight[lease.generation] = slot.in_flight.get(lease.generation, 0) + 1
        slot.renders += 1

    def _ended(self, lease: _PageLease) -> None:
        slot, generation = lease.slot, lease.generation
        left = slot.in_flight.get(generation, 1) - 1
        slot.in_flight[generation] = left
        if left == 0 and generation in slot.retired:
            self._background(self._close_retired(slot, generation))
        elif (
            generation == slot.generation
            and slot.renders % MEMORY_CHECK_EVERY == 0
            and slot.browser is not None
        ):
            self._background(self._check_memory(slot, slot.browser))

    async def _check_memory(self, slot: _BrowserSlot, browser: Browser) -> None:
        """Mark the slot for recycling when its browser's processes use more than
        `max_memory_mb` (proportional set size, read from /proc)."""
        try:
            used = await _browser_mb(browser)
        except PlaywrightError:
            return  # the browser went away: the next render replaces it
        if used > self.max_memory_mb and browser is slot.browser:
            log.info(
                "browser %d uses %.0f MB (limit %.0f MB): recycling it",
                slot.index,
                used,
                self.max_memory_mb,
            )
            slot.over_memory = True

    async def memory_mb(self) -> float:
        """What the pool's current browsers use (proportional set size, MB)."""
        total = 0.0
        for slot in self._slots:
            if slot.browser is not None and slot.browser.is_connected():
                total += await _browser_mb(slot.browser)
        return total

    async def render(self, document: str, options: RenderOptions) -> RenderedPdf:
        """Render one HTML document; raises `RenderError` subclasses on failure."""
        lease = await self._pages.get()
        try:
            lease = await self._fresh(lease)
            assert lease.page is not None
            page = lease.page
            self._began(lease)
            try:
                data = await asyncio.wait_for(
                    self._print(page, with_title(document, options.title), options),
                    self.timeout_s,
                )
            except TimeoutError as exc:
                await self._drop_page(lease)
                raise RenderTimeoutError(
                    f"rendering took longer than {self.timeout_s:g} s and was stopped"
                ) from exc
            except PlaywrightError as exc:
                connected = lease.slot.browser is not None and lease.slot.browser.is_connected()
                await self._drop_page(lease)
                if not connected:
                    raise BrowserUnavailableError("the browser stopped during the render") from exc
                raise RenderError(f"the renderer failed: {exc.message.splitlines()[0]}") from exc
            finally:
                self._ended(lease)
        except asyncio.CancelledError:
            # The job was cancelled mid-render: the page may still be printing, so it is
            # closed in the background and the next render on this slot gets a new one.
            self._abandon_page(lease)
            self._pages.put_nowait(lease)
            raise
        except BaseException:
            self._pages.put_nowait(lease)
            raise
        self._pages.put_nowait(lease)
        self.renders += 1
        pages = count_pages(data)
        if pages > self.max_pages:
            raise PageLimitExceededError(
                f"the document has {pages} pages; the limit is {self.max_pages}"
            )
        return RenderedPdf(data, pages)

    async def _print(self, page: Page, document: str, options: RenderOptions) -> bytes:
        await page.set_content(document, wait_until="load")
        return await page.pdf(**pdf_arguments(options))

    def _abandon_page(self, lease: _PageLease) -> None:
        page, lease.page = lease.page, None
        if page is not None:
            self._background(self._close_page(page))

    @staticmethod
    async def _close_page(page: Page) -> None:
        with contextlib.suppress(Exception):
            await page.close()

    async def _drop_page(self, lease: _PageLease) -> None:
        page, lease.page = lease.page, None
        if page is not None:
            await self._close_page(page)

    async def check(self) -> None:
        """Raise `BrowserUnavailableError` when no browser of the pool is usable."""
        if not any(s.browser is not None and s.browser.is_connected() for s in self._slots):
            raise BrowserUnavailableError("no browser in the pool is connected")

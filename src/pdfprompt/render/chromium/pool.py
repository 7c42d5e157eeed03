"""HTML → PDF in a warm headless-Chromium pool, with the network sandboxed.

`BROWSER_POOL_SIZE` browsers are started once; `MAX_PDF_CONCURRENCY` pages
are spread over them and reused, so a render costs a `setDocumentContent` and
a `printToPDF`, never a browser start. Chromium is driven over the DevTools
protocol on a pipe (`cdp.py`): no driver process, no port. Every request a page
makes is answered by the renderer (`tab.py`): `data:` URIs pass (they never reach the
network layer) and everything else is refused, so hostile HTML cannot reach the
network or the file system. Browsers are recycled after a number of renders or above a
memory bound, and killed during a render above the render memory limit (`memory.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pdfprompt.domain import (
    BrowserUnavailableError,
    PageLimitExceededError,
    RenderError,
    RenderMemoryExceededError,
    RenderOptions,
    RenderTimeoutError,
    page_refused_warnings,
    refused_warnings,
)
from pdfprompt.render.base import DEFAULT_MAX_PDF_BYTES, RenderedPdf, Resources, render_limit
from pdfprompt.render.chromium.cdp import (
    MAX_MESSAGE_BYTES,
    BrowserClosedError,
    CdpBrowser,
    CdpError,
)
from pdfprompt.render.chromium.discovery import is_headless_shell
from pdfprompt.render.chromium.launch import launch
from pdfprompt.render.chromium.memory import (
    MEMORY_CHECK_EVERY,
    MEMORY_CHECK_MIN_S,
    MEMORY_TREE_S,
    MEMORY_WATCH_S,
    browser_mb,
    held_mb,
    process_tree,
)
from pdfprompt.render.chromium.printing import count_pages
from pdfprompt.render.chromium.tab import Tab, TabGoneError
from pdfprompt.render.chromium.web import WebTab
from pdfprompt.render.document import chromium_document
from pdfprompt.render.web import PageFetch

log = logging.getLogger(__name__)


@dataclass
class _BrowserSlot:
    index: int
    browser: CdpBrowser | None = None
    context: str = ""
    renders: int = 0
    generation: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    over_memory: bool = False
    memory_checked_at: float = 0.0  # time.monotonic() of the last memory check
    # Renders in flight per browser generation, and retired browsers (replaced by a newer
    # generation) that close once their last render is done.
    in_flight: dict[int, int] = field(default_factory=dict)
    retired: dict[int, CdpBrowser] = field(default_factory=dict)
    rendering: set[Tab] = field(default_factory=set)  # pages rendering now, any generation
    watched: set[int] = field(default_factory=set)  # generations whose memory is watched

    @property
    def connected(self) -> bool:
        return self.browser is not None and self.browser.connected


@dataclass
class _PageLease:
    slot: _BrowserSlot
    page: Tab | None
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
        frameless: bool | None = None,
        max_bytes: int = DEFAULT_MAX_PDF_BYTES,
        memory_limit_mb: float = 2048.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        nice: int | None = None,
        check_layout: bool = True,
    ) -> None:
        """`nice`: the browsers' processes run that much lower than this one, none of their
        threads higher (`CdpBrowser.launch`), so that what this process does besides (an
        API in `pdfprompt serve`) comes first; None: as Chromium sets them. `check_layout`:
        each document's layout is measured before it prints (`inspection.py`), and what
        printed badly becomes the render's warnings."""
        self.check_layout = check_layout
        self.executable_path = executable_path
        self.nice = nice
        # A page of the headless shell draws no frames unless asked to (begin-frame control):
        # a PDF is printed from the document, and drawing it on a screen nobody sees costs
        # CPU for nothing (docs/render.md, "Frames"). With JavaScript on, a script may wait for
        # a frame (requestAnimationFrame), so pages draw as usual.
        if frameless is None:
            frameless = is_headless_shell(executable_path) and not allow_javascript
        self.frameless = frameless
        self.pool_size = pool_size
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.allow_javascript = allow_javascript
        self.recycle_after = recycle_after
        self.max_memory_mb = max_memory_mb
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.memory_limit_mb = memory_limit_mb
        self.max_message_bytes = max_message_bytes
        self.memory_kills = 0
        # Each browser's processes as last found, and when (`_watch_memory`).
        self._browser_pids: weakref.WeakKeyDictionary[CdpBrowser, tuple[float, list[int]]] = (
            weakref.WeakKeyDictionary()
        )
        self.renders = 0
        self.recycled = 0
        self.blocked_requests = 0
        self._slots: list[_BrowserSlot] = []
        self._pages: asyncio.Queue[_PageLease] = asyncio.Queue()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return "chromium"

    @property
    def rendering(self) -> int:
        """Renders under way now, on any browser."""
        return sum(len(slot.rendering) for slot in self._slots)

    async def __aenter__(self) -> ChromiumRenderer:
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
        log.info(
            "Chromium ready: %s, %d browser(s), %d page(s)",
            self.executable_path,
            self.pool_size,
            self.max_concurrency,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=5)
        for slot in self._slots:
            await self._close_browser(slot)
            for generation in list(slot.retired):
                await self._close_retired(slot, generation)

    async def _start_browser(self, slot: _BrowserSlot) -> None:
        slot.browser, slot.context = await launch(
            self.executable_path,
            frameless=self.frameless,
            max_message_bytes=self.max_message_bytes,
            nice=self.nice,
        )
        slot.renders = 0
        slot.generation += 1

    async def _close_browser(self, slot: _BrowserSlot) -> None:
        browser, slot.browser = slot.browser, None
        if browser is not None:
            await browser.close()

    async def _new_lease(self, slot: _BrowserSlot) -> _PageLease:
        if not slot.connected:
            await self._close_browser(slot)
            await self._start_browser(slot)
        browser = slot.browser
        assert browser is not None
        # The processes the page starts (its renderer) are told apart from the browser's
        # others by what its creation adds to the process tree.
        before = set(process_tree(browser.process.pid))
        try:
            target = await browser.send(
                "Target.createTarget",
                {
                    "url": "about:blank",
                    "browserContextId": slot.context,
                    "enableBeginFrameControl": self.frameless,
                },
            )
            attached = await browser.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            tab = Tab(self, browser, target["targetId"], attached["sessionId"])
            browser.on(tab.session, tab.event)
            await tab.setup()
        except (CdpError, BrowserClosedError, TabGoneError) as exc:
            raise BrowserUnavailableError(f"could not open a page: {exc}") from exc
        tab.pids = set(process_tree(browser.process.pid)) - before
        return _PageLease(slot, tab, slot.generation)

    async def _fresh(self, lease: _PageLease) -> _PageLease:
        """The lease's page, replaced when its browser was restarted or recycled. A browser is
        recycled after `recycle_after` renders or above `max_memory_mb`: a new one takes its
        place at once and the old one closes when the renders still on it are done."""
        slot = lease.slot
        async with slot.lock:
            if not slot.connected:
                await self._close_browser(slot)
                await self._start_browser(slot)
            elif lease.generation == slot.generation and (
                slot.renders >= self.recycle_after or slot.over_memory
            ):
                why = "memory" if slot.over_memory else f"{slot.renders} renders"
                log.info("recycling browser %d (%s)", slot.index, why)
                self._retire(slot)
                await self._start_browser(slot)
            if lease.generation != slot.generation or lease.page is None or lease.page.closed:
                return await self._new_lease(slot)
        return lease

    def _retire(self, slot: _BrowserSlot) -> None:
        browser, slot.browser = slot.browser, None
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
            await browser.close()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _began(self, lease: _PageLease) -> None:
        slot, generation, page = lease.slot, lease.generation, lease.page
        slot.in_flight[generation] = slot.in_flight.get(generation, 0) + 1
        slot.renders += 1
        if page is not None:
            slot.rendering.add(page)
            if generation not in slot.watched:
                slot.watched.add(generation)
                self._background(self._watch_memory(slot, generation, page.browser))

    async def _watch_memory(self, slot: _BrowserSlot, generation: int, browser: CdpBrowser) -> None:
        """While renders run on `browser`, look at what its processes hold every
        `MEMORY_WATCH_S`; over `memory_limit_mb`, kill it (`_kill_over_memory`)."""
        try:
            while True:
                # The first look comes after a wait: most renders are over by then.
                await asyncio.sleep(MEMORY_WATCH_S)
                if not browser.connected or slot.in_flight.get(generation, 0) == 0:
                    return
                now = time.monotonic()
                walked_at, pids = self._browser_pids.get(browser, (0.0, []))
                if not pids or now - walked_at >= MEMORY_TREE_S:
                    pids = process_tree(browser.process.pid)
                    self._browser_pids[browser] = (now, pids)
                held = held_mb(pids)
                for page in slot.rendering:
                    if page.browser is browser:
                        now_mb = sum(held.get(pid, 0.0) for pid in page.pids)
                        page.grew_mb = now_mb - (page.held_mb or 0.0)
                        page.held_mb = now_mb
                        page.peak_mb = max(page.peak_mb, now_mb)
                if sum(held.values()) > self.memory_limit_mb:
                    self._kill_over_memory(slot, browser, held)
                    return
        finally:
            slot.watched.discard(generation)

    def _kill_over_memory(
        self, slot: _BrowserSlot, browser: CdpBrowser, held: dict[int, float]
    ) -> None:
        """Kill a browser over the render memory limit. One render on it is taken for the
        cause and fails with `render_memory_exceeded`; the others fail as after a crash (and
        are retried). The cause is the render whose page's own processes held the most, now
        or at any look of the watch during it (what costs the browser most: a decoded image,
        or a long document's layout), then the one that grew the most since the look before;
        when none held anything, the one printing longest, else running longest. (Growth
        alone misleads on a busy machine: an image decoded just before a look has stopped
        growing by the next one, while a long print goes on growing a little at every look.
        The peak counts because memory moves: the full Chromium browser hands a page's
        print to a shared print compositor process, where the image is decoded again while
        the page's renderer lets its own copy go.)"""
        total = sum(held.values())
        pages = [page for page in slot.rendering if page.browser is browser]
        if pages:
            cause = max(
                pages,
                key=lambda p: (
                    max(p.peak_mb, sum(held.get(pid, 0.0) for pid in p.pids)),
                    p.grew_mb,
                    p.printing_at is not None,
                    -(p.printing_at or p.started_at),
                ),
            )
            cause.over_memory_mb = total
        self.memory_kills += 1
        log.warning(
            "browser %d holds %.0f MB, over the render memory limit of %.0f MB: killing it "
            "(%d render(s) on it; their pages hold %s MB, held at most %s MB, grew %s MB)",
            slot.index,
            total,
            self.memory_limit_mb,
            len(pages),
            "/".join(f"{p.held_mb or 0:.0f}" for p in pages),
            "/".join(f"{p.peak_mb:.0f}" for p in pages),
            "/".join(f"{p.grew_mb:.0f}" for p in pages),
        )
        browser.kill(
            f"its processes held {total:.0f} MB, over the render memory limit of "
            f"{self.memory_limit_mb:.0f} MB"
        )

    def _ended(self, lease: _PageLease, page: Tab | None) -> None:
        slot, generation = lease.slot, lease.generation
        if page is not None:
            slot.rendering.discard(page)
        left = slot.in_flight.get(generation, 1) - 1
        slot.in_flight[generation] = left
        if left == 0 and generation in slot.retired:
            self._background(self._close_retired(slot, generation))
        elif (
            generation == slot.generation
            and slot.renders % MEMORY_CHECK_EVERY == 0
            and slot.browser is not None
            and time.monotonic() - slot.memory_checked_at >= MEMORY_CHECK_MIN_S
        ):
            slot.memory_checked_at = time.monotonic()
            self._background(self._check_memory(slot, slot.browser))

    async def _check_memory(self, slot: _BrowserSlot, browser: CdpBrowser) -> None:
        """Mark the slot for recycling when its browser's processes use more than
        `max_memory_mb` (proportional set size, read from /proc)."""
        try:
            used = await browser_mb(browser)
        except (CdpError, BrowserClosedError):
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
            if slot.browser is not None and slot.browser.connected:
                total += await browser_mb(slot.browser)
        return total

    async def render(
        self,
        document: str,
        options: RenderOptions,
        max_pages: int | None = None,
        max_bytes: int | None = None,
        resources: Resources | None = None,
    ) -> RenderedPdf:
        """Render one HTML document; raises `RenderError` subclasses on failure,
        `PageLimitExceededError` over `max_pages` and `FileTooLargeError` over `max_bytes`
        (each when lower than the renderer's own)."""
        limit = render_limit(self.max_pages, max_pages)
        bytes_limit = render_limit(self.max_bytes, max_bytes)
        lease = await self._pages.get()
        try:
            lease = await self._fresh(lease)
            assert lease.page is not None
            page = lease.page
            self._began(lease)
            try:
                data = await asyncio.wait_for(
                    page.print_document(
                        chromium_document(document, options),
                        options,
                        limit,
                        bytes_limit,
                        resources,
                    ),
                    self.timeout_s,
                )
                warnings = (*refused_warnings(page.refused), *page.findings)
            except TimeoutError as exc:
                await self._drop_page(lease)
                raise RenderTimeoutError(
                    f"rendering took longer than {self.timeout_s:g} s and was stopped"
                ) from exc
            except (CdpError, BrowserClosedError, TabGoneError) as exc:
                browser = page.browser
                await self._drop_page(lease)
                if page.over_memory_mb is not None:
                    raise RenderMemoryExceededError(
                        f"the render passed the memory limit: its browser held "
                        f"{page.over_memory_mb:.0f} MB (limit {self.memory_limit_mb:.0f} MB) "
                        "and was stopped"
                    ) from exc
                if not browser.connected:
                    why = f" ({browser.killed_because})" if browser.killed_because else ""
                    raise BrowserUnavailableError(
                        f"the browser stopped during the render{why}"
                    ) from exc
                raise RenderError(f"the renderer failed: {exc}") from exc
            finally:
                page.resources = {}
                self._ended(lease, page)
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
        if pages > limit:  # only the first page past the limit was printed
            raise PageLimitExceededError.over(limit)
        return RenderedPdf(data, pages, warnings)

    async def render_url(
        self,
        url: str,
        options: RenderOptions,
        fetch: PageFetch,
        max_pages: int | None = None,
        max_bytes: int | None = None,
    ) -> RenderedPdf:
        """Render the web page at `url` in a page of its own (scripts on), every request
        it makes fetched by `fetch`; the limits and errors of `render`, and `url_refused`
        or `url_unreachable` when its document cannot be loaded."""
        limit = render_limit(self.max_pages, max_pages)
        bytes_limit = render_limit(self.max_bytes, max_bytes)
        lease = await self._pages.get()  # a render slot, though its page is not used
        try:
            lease = await self._fresh(lease)
            page = await self._web_tab(lease.slot, fetch)
            own = _PageLease(lease.slot, page, lease.generation)
            self._began(own)
            try:
                data = await asyncio.wait_for(
                    page.print_url(url, options, limit, bytes_limit), self.timeout_s
                )
                warnings = (*page_refused_warnings(page.failures), *page.warnings)
            except TimeoutError as exc:
                raise RenderTimeoutError(
                    f"rendering took longer than {self.timeout_s:g} s and was stopped"
                ) from exc
            except (CdpError, BrowserClosedError, TabGoneError) as exc:
                if page.over_memory_mb is not None:
                    raise RenderMemoryExceededError(
                        f"the render passed the memory limit: its browser held "
                        f"{page.over_memory_mb:.0f} MB (limit {self.memory_limit_mb:.0f} MB) "
                        "and was stopped"
                    ) from exc
                if not page.browser.connected:
                    raise BrowserUnavailableError("the browser stopped during the render") from exc
                raise RenderError(f"the renderer failed: {exc}") from exc
            finally:
                self._ended(own, page)
                self._background(page.close())
        finally:
            self._pages.put_nowait(lease)
        self.renders += 1
        pages = count_pages(data)
        if pages > limit:
            raise PageLimitExceededError.over(limit)
        return RenderedPdf(data, pages, warnings)

    async def _web_tab(self, slot: _BrowserSlot, fetch: PageFetch) -> WebTab:
        """A page in a browser context of its own, scripts on, drawing frames."""
        browser = slot.browser
        assert browser is not None
        before = set(process_tree(browser.process.pid))
        try:
            made = await browser.send("Target.createBrowserContext", {"disposeOnDetach": True})
            context = made["browserContextId"]
            await browser.send(
                "Browser.setDownloadBehavior", {"behavior": "deny", "browserContextId": context}
            )
            target = await browser.send(
                "Target.createTarget", {"url": "about:blank", "browserContextId": context}
            )
            attached = await browser.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            tab = WebTab(self, browser, target["targetId"], attached["sessionId"], context, fetch)
            browser.on(tab.session, tab.event)
            await tab.setup()
        except (CdpError, BrowserClosedError, TabGoneError) as exc:
            raise BrowserUnavailableError(f"could not open a page: {exc}") from exc
        tab.pids = set(process_tree(browser.process.pid)) - before
        return tab

    def _abandon_page(self, lease: _PageLease) -> None:
        page, lease.page = lease.page, None
        if page is not None:
            self._background(page.close())

    async def _drop_page(self, lease: _PageLease) -> None:
        page, lease.page = lease.page, None
        if page is not None:
            await page.close()

    async def check(self) -> None:
        """Raise `BrowserUnavailableError` when no browser of the pool is usable."""
        if not any(s.connected for s in self._slots):
            raise BrowserUnavailableError("no browser in the pool is connected")

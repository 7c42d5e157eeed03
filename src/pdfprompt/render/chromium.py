"""HTML → PDF in a warm headless-Chromium pool, with the network sandboxed.

`BROWSER_POOL_SIZE` browsers are started once; `MAX_PDF_CONCURRENCY` pages
are spread over them and reused, so a render costs a `setDocumentContent` and
a `printToPDF`, never a browser start. Chromium is driven over the DevTools
protocol on a pipe (`cdp.py`): no driver process, no port. Every request a page
makes is answered by the renderer: `data:` URIs pass (they never reach the
network layer) and everything else is refused, so hostile HTML cannot reach the
network or the file system.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import html as html_lib
import io
import logging
import re
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pdfprompt.domain import (
    BrowserUnavailableError,
    FileTooLargeError,
    InvalidInputError,
    JobWarning,
    PageLimitExceededError,
    RenderError,
    RenderMemoryExceededError,
    RenderOptions,
    RenderRefusedError,
    RenderTimeoutError,
    refused_warnings,
)
from pdfprompt.domain.options import DEFAULT_FORMAT, PAPER_INCHES, inches, page_spans
from pdfprompt.render.cdp import (
    MAX_MESSAGE_BYTES,
    BrowserClosedError,
    CdpBrowser,
    CdpError,
    retrieved,
)
from pdfprompt.render.memory import held_mb, process_tree, pss_mb
from pdfprompt.settings import is_headless_shell

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
_DISABLED_FEATURES = (
    "PaintHolding",
    "MediaRouter",
    "OptimizationHints",
    "Translate",
    "HttpsUpgrades",
    "SpareRendererForSitePerProcess",
)
CHROMIUM_ARGS = (
    *HEADLESS_ARGS,
    # Every page of the pool renders at full speed: none is a throttled background tab.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-ipc-flooding-protection",
    "--disable-hang-monitor",
    # The same colours on every machine, and nothing the pool does not use.
    "--force-color-profile=srgb",
    "--disable-field-trial-config",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-component-extensions-with-background-pages",
    # No spare renderer process kept warm for navigations the pool never makes.
    "--disable-features=" + ",".join(_DISABLED_FEATURES),
    "--no-default-browser-check",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    "--metrics-recording-only",
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
# A page that draws no frames (see `ChromiumRenderer.frameless`) is laid out on demand while
# its document loads, this often, since some loads only start from a layout.
_LAYOUT_TICK_S = 0.05
_START_TIMEOUT_S = 30.0  # for a new browser to answer its first command
MEMORY_CHECK_EVERY = 25  # renders on a browser between checks of its memory
# ... and seconds at least between them: a check walks the page tables of every process of
# the browser (/proc/<pid>/smaps_rollup), about 9 ms of kernel CPU for a 2-page browser, which
# every 25 renders was 2 to 7 % of a render's cost on the headless shell.
MEMORY_CHECK_MIN_S = 5.0
# While renders run on a browser, what its processes hold is looked at this often (and its
# process tree walked again at most every `MEMORY_TREE_S`); over the render memory limit it
# is killed. A look cost 0.12 to 0.16 ms of CPU, a walk 0.8 to 1.1 ms: 0.3 to 0.4 % of a
# core while renders run (docs/render.md).
MEMORY_WATCH_S = 0.1
MEMORY_TREE_S = 0.5
# The PDF is read from the browser in chunks of at most this many bytes (`IO.read`): a
# message of a chunk is a third larger (base64), well under the pipe's message limit.
PDF_CHUNK_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_PDF_BYTES = 200 * 1024 * 1024
# Chromium's words for the print parameters it refuses, and the option each is about.
_REFUSED_OPTIONS = (
    ("content area", "options.margin"),
    ("margin", "options.margin"),
    ("paper width", "options.width"),
    ("paper height", "options.height"),
    ("scale", "options.scale"),
    ("page range", "options.page_ranges"),
)
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_HEAD_FOOT_STYLE = (
    "<style>#header, #footer { padding: 0 !important; }"
    ".pdfprompt-hf { font-family: 'Noto Sans', 'DejaVu Sans', sans-serif; font-size: 9px;"
    " width: 100%; margin: 0 12mm; color: #555; }</style>"
)


async def _browser_mb(browser: CdpBrowser) -> float:
    """What a browser's processes use, by their ids from CDP `SystemInfo.getProcessInfo`."""
    info = await browser.send("SystemInfo.getProcessInfo")
    return await asyncio.to_thread(pss_mb, [p["id"] for p in info["processInfo"]])


def page_limit(own: int, asked: int | None) -> int:
    """The page limit of one render: the renderer's own, or the one the render asks for (its
    plan's) when that is lower."""
    return min(own, asked or own)


def past_page_limit(limit: int) -> PageLimitExceededError:
    """The error for a document that goes on past page `limit`, which both engines stop at
    (one page past it), so neither knows its full length."""
    return PageLimitExceededError(f"the document has more than {limit} pages; the limit is {limit}")


def byte_limit(own: int, asked: int | None) -> int:
    """The byte limit of one PDF: the renderer's own, or the one the render asks for (its
    plan's) when that is lower."""
    return min(own, asked or own)


def past_byte_limit(limit: int) -> FileTooLargeError:
    """The error for a PDF that passed `limit` bytes; both engines stop there, so neither
    knows its full size."""
    return FileTooLargeError(f"the PDF is larger than {limit} bytes; the limit is {limit}")


def refused_print(exc: CdpError, options: RenderOptions) -> InvalidInputError | RenderRefusedError:
    """The permanent error for a print Chromium refused twice: the option it names, when its
    message names one, else the document with these options."""
    said = exc.message.lower()
    if "exceeds page count" in said:
        return InvalidInputError(
            f"options.page_ranges: {options.page_ranges!r} picks no page of the document",
            field="options.page_ranges",
        )
    for words, option in _REFUSED_OPTIONS:
        if words in said:
            return InvalidInputError(
                f"{option}: Chromium cannot print with these options ({exc.message})",
                field=option,
            )
    return RenderRefusedError(f"Chromium cannot print this document with these options: {exc}")


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


def with_page_rules(document: str, options: RenderOptions) -> str:
    """The document with the page size and margins the request names made to win over its
    own `@page` rules: an important `@page` rule after everything the document declares.
    Chromium prints with the document's margins where it has any, and it shrinks a page of
    the document's size onto paper of another rather than use the paper's size."""
    rules = []
    if options.size_named:
        rules.append(f"size: {options.css_size} !important;")
    if options.margin is not None:
        rules.append(f"margin: {options.margin.css} !important;")
    if not rules:
        return document
    return document + "<style>@page { " + " ".join(rules) + " }</style>"


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


def capped_ranges(ranges: str | None, most: int) -> str:
    """Page ranges that pick at most `most` pages: the first `most` of `ranges`, or of the
    whole document when there are none. Chromium skips pages a range names beyond the
    document's end, so a document of 50,000 pages is laid out but never painted past the
    limit: over the limit, a render ends in seconds instead of at the timeout."""
    if not ranges:
        return f"1-{most}"
    merged: list[tuple[int, int]] = []
    for first, last in sorted(page_spans(ranges)):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    picked: list[str] = []
    for first, last in merged:
        last = min(last, first + most - 1)
        picked.append(f"{first}-{last}")
        most -= last - first + 1
        if most == 0:
            break
    return ",".join(picked)


def print_parameters(options: RenderOptions, max_pages: int | None = None) -> dict[str, Any]:
    """CDP `Page.printToPDF` parameters for the options; with `max_pages`, at most one page
    more than that is printed (enough to tell the document is over it). Tagging and the
    outline are off unless asked for (`tagged`, `outline`): with both, a PDF cost 36 to 41 %
    more CPU and 2 to 2.6 times the bytes (docs/render.md)."""
    if options.width and options.height:
        width, height = inches(options.width), inches(options.height)
    else:
        width, height = PAPER_INCHES[(options.format or DEFAULT_FORMAT).lower()]
    margin = options.page_margin
    params: dict[str, Any] = {
        "landscape": bool(options.landscape),
        "printBackground": options.print_background,
        "scale": options.scale,
        "paperWidth": width,
        "paperHeight": height,
        # Chromium prints with these where the document's @page names no margin; margins
        # the request names are also made to win over the document's (`with_page_rules`).
        "marginTop": inches(margin.top),
        "marginRight": inches(margin.right),
        "marginBottom": inches(margin.bottom),
        "marginLeft": inches(margin.left),
        # The page size is the @page size: the request's (`with_page_rules`), else the
        # document's, else the paper's.
        "preferCSSPageSize": True,
        # Chromium builds the outline from the tags: an outline needs a tagged PDF.
        "generateTaggedPDF": options.tagged or options.outline,
        "generateDocumentOutline": options.outline,
    }
    if options.header_html or options.footer_html:
        params["displayHeaderFooter"] = True
        params["headerTemplate"] = _header_footer(options.header_html)
        params["footerTemplate"] = _header_footer(options.footer_html)
    if max_pages is not None:
        params["pageRanges"] = capped_ranges(options.page_ranges, max_pages + 1)
    elif options.page_ranges:
        params["pageRanges"] = options.page_ranges
    return params


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    data: bytes
    pages: int
    warnings: tuple[JobWarning, ...] = ()  # addresses it refused to load, and the like


class _TabGoneError(Exception):
    """The page's renderer crashed, or its browser went away, during a command."""


class _Tab:
    """One reusable page, attached in flat mode. It answers every request its documents
    (and any frame or worker they start) make: navigations get 204 No Content, which leaves
    the document in place; everything else fails. `data:` URIs never reach it."""

    def __init__(
        self, renderer: ChromiumRenderer, browser: CdpBrowser, target: str, session: str
    ) -> None:
        self.renderer = renderer
        self.browser = browser
        self.target = target
        self.session = session
        self.frame = ""
        self.closed = False
        self.refused: list[str] = []  # the addresses the current document asked for
        self.started_at = 0.0  # time.monotonic() when the current render began
        self.printing_at: float | None = None  # ... and began printing, while it prints
        # The processes that started with this page (its renderer), and what the browser
        # held when the memory watch killed it for this page's render.
        self.pids: set[int] = set()
        self.over_memory_mb: float | None = None
        self._load: asyncio.Future[None] | None = None
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._gone.add_done_callback(retrieved)
        self._children: set[str] = set()

    async def setup(self) -> None:
        session, send = self.session, self.browser.post
        commands = [
            send("Page.enable", None, session),
            send("Emulation.setFocusEmulationEnabled", {"enabled": True}, session),
            *self._rules(session),
        ]
        tree = send("Page.getFrameTree", None, session)
        await asyncio.gather(*commands)
        self.frame = (await tree)["frameTree"]["frame"]["id"]

    def _rules(self, session: str) -> list[asyncio.Future[dict[str, Any]]]:
        """Send the rules every session of this page follows: each request paused for
        `_refuse`, JavaScript off unless allowed, and frames in other processes and workers
        attached (and held) until they follow them too."""
        send = self.browser.post
        commands = [
            send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session),
            send(
                "Target.setAutoAttach",
                {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
                session,
            ),
        ]
        if not self.renderer.allow_javascript:
            commands.append(send("Emulation.setScriptExecutionDisabled", {"value": True}, session))
        return commands

    def event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            if self._load is not None and not self._load.done():
                self._load.set_result(None)
        elif method == "Inspector.targetCrashed":
            self._lost("the page's renderer process crashed")
        elif method in ("Inspector.detached", "pdfprompt.disconnected"):
            self._lost("the browser stopped")
        else:
            self._guard(self.session, method, params)

    def _guard(self, session: str, method: str, params: dict[str, Any]) -> None:
        """The events every session of this page handles alike: its paused requests, and
        the frames and workers it starts (which may start more)."""
        if method == "Fetch.requestPaused":
            self._refuse(session, params)
        elif method == "Target.attachedToTarget":
            self._attach_child(params["sessionId"])
        elif method == "Target.detachedFromTarget":
            child = params.get("sessionId", "")
            self._children.discard(child)
            self.browser.on(child, None)

    def _refuse(self, session: str, params: dict[str, Any]) -> None:
        self.renderer.blocked_requests += 1
        self.refused.append(str(params.get("request", {}).get("url", "")))
        if params.get("resourceType") == "Document":
            answer = {"requestId": params["requestId"], "responseCode": 204}
            self.browser.fire("Fetch.fulfillRequest", answer, session)
        else:
            answer = {"requestId": params["requestId"], "errorReason": "BlockedByClient"}
            self.browser.fire("Fetch.failRequest", answer, session)

    def _attach_child(self, child: str) -> None:
        """A frame in another process or a worker: the same rules, before it may start."""
        self._children.add(child)
        self.browser.on(child, lambda method, params: self._guard(child, method, params))
        for command in self._rules(child):  # sent before it is let go, in pipe order
            command.add_done_callback(retrieved)
        self.browser.fire("Runtime.runIfWaitingForDebugger", None, child)

    def _lost(self, why: str) -> None:
        if not self._gone.done():
            self._gone.set_exception(_TabGoneError(why))

    async def _until(self, waited: asyncio.Future[Any]) -> Any:
        """`waited`'s result, unless the page goes away first."""
        if not waited.done():
            await asyncio.wait((waited, self._gone), return_when=asyncio.FIRST_COMPLETED)
        if waited.done():
            return waited.result()
        waited.add_done_callback(retrieved)
        await self._gone
        raise _TabGoneError("the page went away")  # not reached: _gone holds an error

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        command = self.browser.post(method, params, self.session)
        command.add_done_callback(retrieved)
        result: dict[str, Any] = await self._until(command)
        return result

    async def print_document(
        self, document: str, options: RenderOptions, max_pages: int, max_bytes: int
    ) -> bytes:
        """Replace the page's document, wait for it to load (every blocked request has
        failed by then), and print it; `FileTooLargeError` as soon as the PDF passes
        `max_bytes`."""
        self.started_at = time.monotonic()
        self._load = asyncio.get_running_loop().create_future()
        self._load.add_done_callback(retrieved)
        self.refused = []
        await self.call("Page.setDocumentContent", {"frameId": self.frame, "html": document})
        if self.renderer.frameless:
            await self._lay_out_until_loaded()
        await self._until(self._load)
        params = {**print_parameters(options, max_pages), "transferMode": "ReturnAsStream"}
        self.printing_at = time.monotonic()
        try:
            try:
                stream = await self._print(params)
            except CdpError as first:
                # Chromium answered, so this is no crash: its refusal of the parameters, or a
                # print that failed. Once more, so that a one-off failure is not taken for
                # the document's; a second refusal is the document's and options'.
                if "exceeds page count" in first.message:
                    raise refused_print(first, options) from first
                try:
                    stream = await self._print(params)
                except CdpError as exc:
                    raise refused_print(exc, options) from exc
            try:
                return await self._read(stream, max_bytes)
            finally:
                self.browser.fire("IO.close", {"handle": stream}, self.session)
        finally:
            self.printing_at = None

    async def _print(self, params: dict[str, Any]) -> str:
        """Print to a stream the browser keeps (a file in its temporary directory) and return
        its handle. A print given up on (timeout, cancel) has its stream closed unread
        whenever its answer comes."""
        command = self.browser.post("Page.printToPDF", params, self.session)
        command.add_done_callback(retrieved)
        try:
            result: dict[str, Any] = await self._until(command)
        except BaseException:
            command.add_done_callback(self._close_unread)
            raise
        return str(result["stream"])

    def _close_unread(self, command: asyncio.Future[dict[str, Any]]) -> None:
        if command.cancelled() or command.exception() is not None:
            return
        stream = command.result().get("stream")
        if stream and self.browser.connected:
            self.browser.fire("IO.close", {"handle": stream}, self.session)

    async def _read(self, stream: str, max_bytes: int) -> bytes:
        """The PDF in `stream`, read in chunks; `FileTooLargeError` as soon as it passes
        `max_bytes` (no chunk asks for more than one byte past it). One read is asked for
        ahead of the one awaited (the browser answers them in order), so that the end of a
        PDF of one chunk, most of them, costs no round trip of its own."""
        pdf = io.BytesIO()  # grown in place: the PDF is not copied again at the end

        def ask() -> asyncio.Future[dict[str, Any]]:
            want = min(PDF_CHUNK_BYTES, max_bytes - pdf.tell() + 1)
            command = self.browser.post("IO.read", {"handle": stream, "size": want}, self.session)
            command.add_done_callback(retrieved)
            return command

        reads = collections.deque((ask(), ask()))
        try:
            while True:
                answer: dict[str, Any] = await self._until(reads[0])
                reads.popleft()
                data = answer.get("data", "")
                chunk = base64.b64decode(data) if answer.get("base64Encoded") else data.encode()
                if pdf.tell() + len(chunk) > max_bytes:
                    raise past_byte_limit(max_bytes)
                pdf.write(chunk)
                if answer.get("eof"):
                    return pdf.getvalue()
                reads.append(ask())
        finally:
            for read in reads:  # their answers, when they come, are dropped unparsed
                read.cancel()

    async def _lay_out_until_loaded(self) -> None:
        """On a page that draws no frames, nothing lays the document out by itself, and some
        loads start only from a layout (an SVG `<use>` of another document, `<object>`,
        `<embed>`): without one their load, and so the document's, would never end. Lay the
        page out now, and again every `_LAYOUT_TICK_S` until the document has loaded."""
        assert self._load is not None
        while not self._load.done():
            await self.call("Page.getLayoutMetrics")  # answered after a style and layout pass
            if not self._load.done():
                await asyncio.wait((self._load, self._gone), timeout=_LAYOUT_TICK_S)
            if self._gone.done():
                return  # the caller's wait for the load raises why

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._lost("the page was closed")
        for session in (self.session, *self._children):
            self.browser.on(session, None)
        if self.browser.connected:
            with contextlib.suppress(CdpError, BrowserClosedError):
                await self.browser.send("Target.closeTarget", {"targetId": self.target})


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
    rendering: set[_Tab] = field(default_factory=set)  # pages rendering now, any generation
    watched: set[int] = field(default_factory=set)  # generations whose memory is watched

    @property
    def connected(self) -> bool:
        return self.browser is not None and self.browser.connected


@dataclass
class _PageLease:
    slot: _BrowserSlot
    page: _Tab | None
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
    ) -> None:
        self.executable_path = executable_path
        # A page of the headless shell draws no frames unless asked to (begin-frame control):
        # a PDF is printed from the document, and drawing it on a screen nobody sees cost a
        # fifth of the CPU of a render. With JavaScript on, a script may wait for a frame
        # (requestAnimationFrame), so pages draw as usual.
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
        try:
            args = [*CHROMIUM_ARGS, *(["--enable-begin-frame-control"] if self.frameless else [])]
            browser = await CdpBrowser.launch(self.executable_path, args, self.max_message_bytes)
        except OSError as exc:
            raise BrowserUnavailableError(f"could not start Chromium: {exc}") from exc
        try:
            context = await asyncio.wait_for(
                browser.send("Target.createBrowserContext", {"disposeOnDetach": True}),
                _START_TIMEOUT_S,
            )
            slot.context = context["browserContextId"]
            await browser.send(
                "Browser.setDownloadBehavior",
                {"behavior": "deny", "browserContextId": slot.context},
            )
        except (CdpError, BrowserClosedError, TimeoutError) as exc:
            why = str(exc) or "it did not answer in time"
            said = browser.output()
            await browser.close(grace_s=1)
            if said:
                why += f"; it said: {said.splitlines()[-1]}"
            raise BrowserUnavailableError(f"could not start Chromium: {why}") from exc
        slot.browser = browser
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
            tab = _Tab(self, browser, target["targetId"], attached["sessionId"])
            browser.on(tab.session, tab.event)
            await tab.setup()
        except (CdpError, BrowserClosedError, _TabGoneError) as exc:
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
        are retried). The cause is the render whose page's own processes hold the most (a
        document's layout, decoded images and pages being printed live in its renderer); when
        none holds anything, the one printing longest, else running longest."""
        total = sum(held.values())
        pages = [page for page in slot.rendering if page.browser is browser]
        if pages:
            cause = max(
                pages,
                key=lambda p: (
                    sum(held.get(pid, 0.0) for pid in p.pids),
                    p.printing_at is not None,
                    -(p.printing_at or p.started_at),
                ),
            )
            cause.over_memory_mb = total
        self.memory_kills += 1
        log.warning(
            "browser %d holds %.0f MB, over the render memory limit of %.0f MB: killing it "
            "(%d render(s) on it)",
            slot.index,
            total,
            self.memory_limit_mb,
            len(pages),
        )
        browser.kill(
            f"its processes held {total:.0f} MB, over the render memory limit of "
            f"{self.memory_limit_mb:.0f} MB"
        )

    def _ended(self, lease: _PageLease, page: _Tab | None) -> None:
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
            used = await _browser_mb(browser)
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
                total += await _browser_mb(slot.browser)
        return total

    async def render(
        self,
        document: str,
        options: RenderOptions,
        max_pages: int | None = None,
        max_bytes: int | None = None,
    ) -> RenderedPdf:
        """Render one HTML document; raises `RenderError` subclasses on failure,
        `PageLimitExceededError` over `max_pages` and `FileTooLargeError` over `max_bytes`
        (each when lower than the renderer's own)."""
        limit = page_limit(self.max_pages, max_pages)
        bytes_limit = byte_limit(self.max_bytes, max_bytes)
        lease = await self._pages.get()
        try:
            lease = await self._fresh(lease)
            assert lease.page is not None
            page = lease.page
            self._began(lease)
            try:
                data = await asyncio.wait_for(
                    page.print_document(
                        with_page_rules(with_title(document, options.title), options),
                        options,
                        limit,
                        bytes_limit,
                    ),
                    self.timeout_s,
                )
                warnings = refused_warnings(page.refused)
            except TimeoutError as exc:
                await self._drop_page(lease)
                raise RenderTimeoutError(
                    f"rendering took longer than {self.timeout_s:g} s and was stopped"
                ) from exc
            except (CdpError, BrowserClosedError, _TabGoneError) as exc:
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
            raise past_page_limit(limit)
        return RenderedPdf(data, pages, warnings)

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

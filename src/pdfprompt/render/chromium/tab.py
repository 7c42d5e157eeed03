"""One page of the pool, sandboxed: every request its documents make is answered here, and
it prints the document it is given, streaming the PDF back within a byte limit."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import io
import time
from typing import Any, Protocol

from pdfprompt.domain import FileTooLargeError, JobWarning, RenderOptions
from pdfprompt.render.base import Resources
from pdfprompt.render.chromium.cdp import BrowserClosedError, CdpBrowser, CdpError, retrieved
from pdfprompt.render.chromium.inspection import inspect_layout
from pdfprompt.render.chromium.printing import print_parameters, refused_print

# A page that draws no frames (see `ChromiumRenderer.frameless`) is laid out on demand while
# its document loads, this often, since some loads only start from a layout.
_LAYOUT_TICK_S = 0.05
# The PDF is read from the browser in chunks of at most this many bytes (`IO.read`): a
# message of a chunk is a third larger (base64), well under the pipe's message limit.
PDF_CHUNK_BYTES = 4 * 1024 * 1024


class TabPool(Protocol):
    """What a tab follows of its pool's rules, and where it counts the requests it refused."""

    allow_javascript: bool
    frameless: bool
    check_layout: bool
    blocked_requests: int


class TabGoneError(Exception):
    """The page's renderer crashed, or its browser went away, during a command."""


class Tab:
    """One reusable page, attached in flat mode. It answers every request its documents
    (and any frame or worker they start) make: a URL of the render's resources (its
    assets) gets their bytes; navigations get 204 No Content, which leaves the document in
    place; everything else fails. `data:` URIs never reach it."""

    def __init__(self, pool: TabPool, browser: CdpBrowser, target: str, session: str) -> None:
        self.pool = pool
        self.browser = browser
        self.target = target
        self.session = session
        self.frame = ""
        self.closed = False
        self.refused: list[str] = []  # the addresses the current document asked for
        self.findings: list[JobWarning] = []  # what the layout check found in it
        self.layout_width: int | None = None  # the window width its layout is emulated at
        self.resources: Resources = {}  # what the current document may load, by URL
        self.started_at = 0.0  # time.monotonic() when the current render began
        self.printing_at: float | None = None  # ... and began printing, while it prints
        # The processes that started with this page (its renderer), and what the browser
        # held when the memory watch killed it for this page's render.
        self.pids: set[int] = set()
        self.over_memory_mb: float | None = None
        # What this page's processes held at the memory watch's last look during the current
        # render, how much that grew since the look before, and the most they held at any
        # look of this render.
        self.held_mb: float | None = None
        self.grew_mb = 0.0
        self.peak_mb = 0.0
        # What the page is laid out for now: the media type, and whether the default white
        # background is left out (changed only when a render asks for something else).
        self.media = "print"
        self.transparent = False
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
        if not self.pool.allow_javascript:
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
        url = str(params.get("request", {}).get("url", ""))
        method = str(params.get("request", {}).get("method", "GET"))
        served = self.resources.get(url) if method == "GET" else None
        if served is not None and params.get("resourceType") != "Document":
            data, content_type = served
            headers = [
                {"name": "Content-Type", "value": content_type},
                {"name": "Access-Control-Allow-Origin", "value": "*"},
                {"name": "X-Content-Type-Options", "value": "nosniff"},
            ]
            answer = {
                "requestId": params["requestId"],
                "responseCode": 200,
                "responseHeaders": headers,
                "body": base64.b64encode(data).decode("ascii"),
            }
            self.browser.fire("Fetch.fulfillRequest", answer, session)
            return
        self.pool.blocked_requests += 1
        self.refused.append(url)
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
            self._gone.set_exception(TabGoneError(why))

    async def _until(self, waited: asyncio.Future[Any]) -> Any:
        """`waited`'s result, unless the page goes away first."""
        if not waited.done():
            await asyncio.wait((waited, self._gone), return_when=asyncio.FIRST_COMPLETED)
        if waited.done():
            return waited.result()
        waited.add_done_callback(retrieved)
        await self._gone
        raise TabGoneError("the page went away")  # not reached: _gone holds an error

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        command = self.browser.post(method, params, self.session)
        command.add_done_callback(retrieved)
        result: dict[str, Any] = await self._until(command)
        return result

    async def print_document(
        self,
        document: str,
        options: RenderOptions,
        max_pages: int,
        max_bytes: int,
        resources: Resources | None = None,
    ) -> bytes:
        """Replace the page's document, wait for it to load (every blocked request has
        failed by then, every request for one of `resources` was answered), and print it;
        `FileTooLargeError` as soon as the PDF passes `max_bytes`."""
        self.started_at = time.monotonic()
        self.held_mb, self.grew_mb, self.peak_mb = None, 0.0, 0.0
        self._load = asyncio.get_running_loop().create_future()
        self._load.add_done_callback(retrieved)
        self.refused = []
        self.resources = resources or {}
        await self.emulate(options)
        await self.call("Page.setDocumentContent", {"frameId": self.frame, "html": document})
        if self.pool.frameless:
            await self._lay_out_until_loaded()
        await self._until(self._load)
        self.findings = []
        if self.pool.check_layout:
            world = None
            if self.pool.allow_javascript:
                # The document's scripts ran: measure in a world of its own, where nothing
                # they changed (prototypes, globals) is seen.
                made = await self.call(
                    "Page.createIsolatedWorld", {"frameId": self.frame, "worldName": "check"}
                )
                world = int(made["executionContextId"])
            self.findings = await inspect_layout(self, options, set(self.refused), world)
        return await self.print_loaded(options, max_pages, max_bytes)

    async def emulate(self, options: RenderOptions) -> None:
        """Lay the page out for the options' media type, with or without the default white
        background; a command only where they differ from the page's current ones."""
        commands = []
        if options.css_media != self.media:
            self.media = options.css_media
            commands.append(self.call("Emulation.setEmulatedMedia", {"media": self.media}))
        if options.omit_background != self.transparent:
            self.transparent = options.omit_background
            clear = {"color": {"r": 0, "g": 0, "b": 0, "a": 0}} if self.transparent else {}
            commands.append(self.call("Emulation.setDefaultBackgroundColorOverride", clear))
        if commands:
            await asyncio.gather(*commands)

    async def print_loaded(self, options: RenderOptions, max_pages: int, max_bytes: int) -> bytes:
        """Print the document the page holds; `FileTooLargeError` as soon as the PDF passes
        `max_bytes`."""
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
                    raise FileTooLargeError.over(max_bytes)
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

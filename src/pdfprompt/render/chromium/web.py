"""A URL job's page: a tab of its own in a browser context of its own (no cookie, storage,
cache or service worker outlives it), scripts on, every request it makes fetched by
pdfprompt (`pdfprompt.render.web`) and handed back through the same interception that
sandboxes documents; after its load, what `wait_for` asks, then the print."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from typing import Any

from pdfprompt.domain import (
    MAX_WAIT_MS,
    NETWORK_IDLE_MS,
    InvalidInputError,
    JobWarning,
    RenderOptions,
    UrlRefusedError,
    UrlUnreachableError,
    WaitFor,
)
from pdfprompt.render.chromium.cdp import BrowserClosedError, CdpBrowser, CdpError
from pdfprompt.render.chromium.tab import Tab, TabPool
from pdfprompt.render.document import page_rules_css
from pdfprompt.render.web import FetchFailedError, FetchRefusedError, PageFetch

_POLL_S = 0.05  # how often a selector is looked for


class WebTab(Tab):
    """One URL job's page. Its requests are fetched one task each; the main frame's
    document decides the job's fate (refused: `url_refused`; unreachable or an error status:
    `url_unreachable`), any other request refused or failed is a warning."""

    def __init__(
        self,
        pool: TabPool,
        browser: CdpBrowser,
        target: str,
        session: str,
        context: str,
        fetch: PageFetch,
    ) -> None:
        super().__init__(pool, browser, target, session)
        self.context = context
        self.fetch = fetch
        self.failures: list[tuple[str, str]] = []  # (address, why) of requests not loaded
        self.warnings: list[JobWarning] = []
        self.document_error: UrlRefusedError | UrlUnreachableError | None = None
        self.in_flight = 0
        self.quiet_since = time.monotonic()
        self._fetches: set[asyncio.Task[None]] = set()

    def _rules(self, session: str) -> list[asyncio.Future[dict[str, Any]]]:
        """Every request paused, frames in other processes and workers held until they
        follow the same rules; scripts run."""
        send = self.browser.post
        return [
            send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session),
            send(
                "Target.setAutoAttach",
                {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
                session,
            ),
        ]

    def _refuse(self, session: str, params: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(session, params))
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    async def _serve(self, session: str, params: dict[str, Any]) -> None:
        request = params.get("request", {})
        url = str(request.get("url", ""))
        method = str(request.get("method", "GET"))
        headers = {str(k): str(v) for k, v in dict(request.get("headers", {})).items()}
        document = (
            params.get("resourceType") == "Document"
            and session == self.session
            and params.get("frameId") == self.frame
        )
        # The main frame's first document decides the job; a document asked for later (a
        # frame's, or a navigation the page starts) that is refused gets 204 No Content,
        # which leaves the frame's document in place.
        first = document and self._load is not None and not self._load.done()
        navigation = params.get("resourceType") == "Document" and not first
        self.in_flight += 1
        try:
            try:
                got = await self.fetch.fetch(url, method, headers)
            except FetchRefusedError as exc:
                self.pool.blocked_requests += 1
                self._failed(url, f"refused: {exc}", first, refused=True)
                self._refused_answer(params, session, navigation, "BlockedByClient")
                return
            except FetchFailedError as exc:
                self._failed(url, f"could not be fetched: {exc}", first, refused=False)
                self._refused_answer(params, session, navigation, "Failed")
                return
            if first and got.location is None and got.status >= 400:
                self.document_error = UrlUnreachableError(
                    f"{_shown(url)} answered HTTP {got.status}",
                    transient=got.status >= 500 or got.status == 429,
                )
            self._fire(
                "Fetch.fulfillRequest",
                params,
                session,
                responseCode=got.status,
                responseHeaders=[{"name": k, "value": v} for k, v in got.headers],
                body=base64.b64encode(got.body).decode("ascii"),
            )
        finally:
            self.in_flight -= 1
            self.quiet_since = time.monotonic()

    def _failed(self, url: str, why: str, document: bool, *, refused: bool) -> None:
        if document and self.document_error is None:
            if refused:
                self.document_error = UrlRefusedError(f"{_shown(url)} {why}")
            else:
                self.document_error = UrlUnreachableError(f"{_shown(url)} {why}")
        elif not url.startswith("data:"):
            self.failures.append((url, why))

    def _refused_answer(
        self, params: dict[str, Any], session: str, navigation: bool, reason: str
    ) -> None:
        if navigation:
            self._fire("Fetch.fulfillRequest", params, session, responseCode=204)
        else:
            self._fire("Fetch.failRequest", params, session, errorReason=reason)

    def _fire(self, method: str, params: dict[str, Any], session: str, **answer: Any) -> None:
        if not self.closed and self.browser.connected:
            self.browser.fire(method, {"requestId": params["requestId"], **answer}, session)

    async def print_url(
        self, url: str, options: RenderOptions, max_pages: int, max_bytes: int
    ) -> bytes:
        """Load the page at `url`, wait for its load and for what `wait_for` asks, and
        print it."""
        self.started_at = time.monotonic()
        self._load = asyncio.get_running_loop().create_future()
        await self.emulate(options)
        navigated = await self.call("Page.navigate", {"url": url, "frameId": self.frame})
        if self.document_error is not None:
            raise self.document_error
        if navigated.get("errorText"):
            raise UrlUnreachableError(
                f"{_shown(url)} could not be loaded: {navigated['errorText']}"
            )
        await self._until(self._load)
        if self.document_error is not None:
            raise self.document_error
        if options.wait_for is not None:
            await self._wait(options.wait_for)
        await self._apply(options)
        return await self.print_loaded(options, max_pages, max_bytes)

    async def _apply(self, options: RenderOptions) -> None:
        """The request's page rules and title, added to the loaded page (a document given
        as HTML gets them before it is loaded: `chromium_document`)."""
        css = page_rules_css(options)
        script = ""
        if css:
            script += (
                "{const s=document.createElement('style');"
                f"s.textContent={json.dumps(css)};"
                "(document.head||document.documentElement).appendChild(s);}"
            )
        if options.title:
            script += f"document.title={json.dumps(options.title)};"
        if script:
            await self.call("Runtime.evaluate", {"expression": script})

    async def _wait(self, wait_for: WaitFor) -> None:
        """What `wait_for` asks, for at most `MAX_WAIT_MS`; a wait that ran out is a
        warning, and the page is printed as it is."""
        deadline = time.monotonic() + MAX_WAIT_MS / 1000
        if wait_for.delay_ms is not None:
            await asyncio.sleep(min(wait_for.delay_ms, MAX_WAIT_MS) / 1000)
        elif wait_for.selector is not None:
            found = f"!!document.querySelector({json.dumps(wait_for.selector)})"
            while True:
                answer = await self.call(
                    "Runtime.evaluate", {"expression": found, "returnByValue": True}
                )
                if "exceptionDetails" in answer:
                    raise InvalidInputError(
                        f"options.wait_for.selector: {wait_for.selector[:80]!r} is no CSS "
                        "selector the page understands",
                        field="options.wait_for.selector",
                    )
                if answer.get("result", {}).get("value") is True:
                    return
                if time.monotonic() >= deadline:
                    self._ran_out(f"no element matched {wait_for.selector[:80]!r}")
                    return
                await asyncio.sleep(_POLL_S)
        elif wait_for.network_idle:
            while self.in_flight or time.monotonic() - self.quiet_since < NETWORK_IDLE_MS / 1000:
                if time.monotonic() >= deadline:
                    self._ran_out("the network was never idle")
                    return
                await asyncio.sleep(_POLL_S)

    def _ran_out(self, what: str) -> None:
        self.warnings.append(
            JobWarning(
                "wait_for_timeout",
                f"printed after waiting {MAX_WAIT_MS / 1000:g} s: {what}",
            )
        )

    async def close(self) -> None:
        for task in self._fetches:
            task.cancel()
        await super().close()
        await self.fetch.aclose()
        if self.browser.connected:
            # The browser may be gone, or the context disposed already with its last page.
            with contextlib.suppress(CdpError, BrowserClosedError):
                await self.browser.send(
                    "Target.disposeBrowserContext", {"browserContextId": self.context}
                )


def _shown(url: str) -> str:
    return url if len(url) <= 300 else url[:299] + "…"

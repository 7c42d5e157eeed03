"""How a pool's Chromium is started: its flags, and a browser with a context of its own.

Which Chromium runs (the headless shell or a full browser, found on `PATH` or in the usual
install locations) is `discovery.py`'s `find_chromium`.
"""

from __future__ import annotations

import asyncio

from pdfprompt.domain import BrowserUnavailableError
from pdfprompt.render.chromium.cdp import BrowserClosedError, CdpBrowser, CdpError

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
    # WebRTC sends UDP (STUN, TURN) outside the request interception and the proxy: a script
    # could reach any address with it. Only proxied UDP, that is none.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
_START_TIMEOUT_S = 30.0  # for a new browser to answer its first command


async def launch(
    executable_path: str, *, frameless: bool, max_message_bytes: int, nice: int | None = None
) -> tuple[CdpBrowser, str]:
    """A started browser and the id of its browser context (downloads denied), which its
    pages are opened in; `BrowserUnavailableError`, with the end of what it said, when it
    does not start. `frameless`: its pages may be created under begin-frame control.
    `nice`: how much lower its processes run than this one (`CdpBrowser.launch`)."""
    try:
        args = [*CHROMIUM_ARGS, *(["--enable-begin-frame-control"] if frameless else [])]
        browser = await CdpBrowser.launch(executable_path, args, max_message_bytes, nice)
    except OSError as exc:
        raise BrowserUnavailableError(f"could not start Chromium: {exc}") from exc
    try:
        context = await asyncio.wait_for(
            browser.send("Target.createBrowserContext", {"disposeOnDetach": True}),
            _START_TIMEOUT_S,
        )
        context_id: str = context["browserContextId"]
        await browser.send(
            "Browser.setDownloadBehavior",
            {"behavior": "deny", "browserContextId": context_id},
        )
    except (CdpError, BrowserClosedError, TimeoutError) as exc:
        why = str(exc) or "it did not answer in time"
        said = browser.output()
        await browser.close(grace_s=1)
        if said:
            why += f"; it said: {said.splitlines()[-1]}"
        raise BrowserUnavailableError(f"could not start Chromium: {why}") from exc
    return browser, context_id

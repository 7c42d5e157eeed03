"""Driving the pages: over plain HTTP (httpx, a browser's cookies, the CSRF token read
from the page) and in Debian's Chromium through Playwright, where `look_at` checks a page
with axe-core and writes its screenshots at phone and desktop width."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from pdfprompt.render import find_chromium
from tests.support.databases import IN_CI
from tests.support.processes import Process, serving

PASSWORD = "correct horse battery"
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
# A PDF shown in a page's viewer (the owner's and a shared link's alike): framed by this
# site only, and no `default-src`, which would block Chromium's own PDF viewer.
VIEWER_CSP = "frame-ancestors 'self'"
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "web-tools" / "node_modules" / "axe-core" / "axe.min.js"
# Where the browser tests leave a screenshot of every page they look at (README names it).
SCREENSHOTS = Path(os.environ.get("PDFPROMPT_TEST_SCREENSHOTS", ROOT / "build" / "screenshots"))
WIDTHS = (390, 1280)


def served_fixture(name: str, **settings: str) -> Any:
    """A module's fixture `name`: `pdfprompt serve` with `settings`, once on SQLite and once
    on PostgreSQL, yielding the process and the environment for `cli`:
    `served = served_fixture("served", **SETTINGS)`."""

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"], name=name)
    def served(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[tuple[Process, dict[str, str]]]:
        tmp = tmp_path_factory.mktemp(f"{name}-{request.param}")
        with serving(request, tmp, request.param, **settings) as started:
            yield started

    return served


def client(server: Process) -> httpx.Client:
    """A browser without JavaScript: keeps cookies, does not follow redirects."""
    return httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30)


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def assert_page_headers(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "script-src" not in r.headers["content-security-policy"] or (
        "'unsafe-inline'" not in r.headers["content-security-policy"]
    )


def post(c: httpx.Client, path: str, **fields: str) -> httpx.Response:
    """A form posted as a browser posts it; never a 5xx."""
    r = c.post(path, data=fields)
    assert r.status_code < 500, r.text
    return r


def sign_up(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf(c.get("/signup"))
    made = post(c, "/signup", email=email, password=password, confirm=password, csrf=token)
    assert made.status_code == 303, made.text
    return made


def sign_in(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf(c.get("/signin"))
    return post(c, "/signin", email=email, password=password, csrf=token)


def browser_sign_up(page: sync_api.Page, base: str, email: str) -> None:
    """Make an account on the sign-up page (password: PASSWORD); it ends on the home page."""
    page.goto(f"{base}/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Make my account").click()
    page.wait_for_url(f"{base}/")


def browser_sign_in(page: sync_api.Page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in on the sign-in page; it ends on the home page."""
    page.goto(f"{base}/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


@contextmanager
def chromium() -> Iterator[sync_api.Browser]:
    """Debian's Chromium under Playwright (no browser download); a failure under CI=true
    when it is missing, a skip elsewhere."""
    executable = find_chromium(None)
    if executable is None:
        if IN_CI:
            pytest.fail("Chromium is required under CI=true (scripts/setup.sh installs it)")
        pytest.skip("no Chromium on this machine")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: sync_api.Browser, **options: Any) -> sync_api.BrowserContext:
    """A fresh browser profile. `bypass_csp` lets `look_at` inject axe-core; the pages'
    own policy is checked by the HTTP tests and by pages that must run under it."""
    return browser.new_context(bypass_csp=True, **options)


@contextmanager
def held(page: sync_api.Page, url_glob: str) -> Iterator[list[sync_api.Route]]:
    """Requests of `page` to `url_glob` wait, unanswered, in the list yielded until the block
    ends (then they go on to the server): what the page looks like while one is pending."""
    waiting: list[sync_api.Route] = []
    released = False

    def hold(route: sync_api.Route) -> None:
        if released:  # one sent while the others are let go goes on at once
            route.continue_()
        else:
            waiting.append(route)

    page.route(url_glob, hold)
    try:
        yield waiting
    finally:
        released = True
        for route in waiting:
            route.continue_()
        page.unroute(url_glob, hold)


def assert_pending_preview_fits(page: sync_api.Page, url_glob: str, name: str) -> None:
    """The page's Preview button pressed with the preview's request (`url_glob`) held: the
    new frame waits out of sight, and the page fits each of WIDTHS meanwhile."""
    with held(page, url_glob):
        page.get_by_role("button", name="Preview").click()
        sync_api.expect(page.locator(".frame-pending")).to_have_count(1, timeout=60_000)
        assert_fits_width(page, name)
        assert page.locator(".frame-pending").count() == 1  # measured while pending


def assert_fits_width(page: sync_api.Page, name: str) -> None:
    """At each of WIDTHS, nothing in the page reaches past the viewport's width (no sideways
    scroll on a phone)."""
    size = page.viewport_size or {"width": 1280, "height": 800}
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name}: {wide} px wide at a {width} px viewport"
    finally:
        page.set_viewport_size(size)


def look_at(page: sync_api.Page, name: str) -> None:
    """Check the page as it is now: no serious or critical axe-core violation; then write
    `name-390.png` and `name-1280.png` (full page) into SCREENSHOTS."""
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"{AXE} is missing: run scripts/setup.sh test")
        pytest.skip("axe-core is not installed (scripts/setup.sh test)")
    # A click that navigates returns once the new document commits, before it has a <head>:
    # wait for it to load so the check and the pictures are of the new page.
    page.wait_for_load_state("load")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1280, "height": 800}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


# Reports the stage line's text when a document's page loads and each change the page's own
# script makes to it: what was pushed into the page over its event stream, without a reload.
_WATCH_STAGE = """
document.addEventListener("DOMContentLoaded", () => {
  const stage = document.querySelector("[data-stage]");
  if (!stage) return;
  window.reportStage(location.pathname, "loaded", stage.textContent);
  new MutationObserver(() => {
    window.reportStage(location.pathname, "pushed", stage.textContent);
  }).observe(stage, { childList: true, characterData: true, subtree: true });
});
"""


def watch_stage(page: sync_api.Page) -> list[tuple[str, str, str]]:
    """What the page's stage line showed, as (path, "loaded" or "pushed", text), filled in
    as the page is used; works under the page's own Content-Security-Policy."""
    reports: list[tuple[str, str, str]] = []
    page.expose_function("reportStage", lambda *args: reports.append(tuple(args)))
    page.add_init_script(_WATCH_STAGE)
    return reports

"""The account pages in a real browser: Debian's Chromium driven by Playwright signs up,
sees its account, signs out and signs in again through the pages themselves."""

from __future__ import annotations

import pytest
from playwright import sync_api

from pdfprompt.render import find_chromium
from tests.support.databases import IN_CI
from tests.support.processes import Process
from tests.support.web import chromium, look_at, new_context

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("sqlite")]

PASSWORD = "a long browser password"


def test_sign_up_and_in_through_the_real_pages(service: tuple[Process, dict[str, str]]) -> None:
    server, _ = service
    executable = find_chromium(None)
    if executable is None:
        if IN_CI:
            pytest.fail("Chromium is required under CI=true (scripts/setup.sh installs it)")
        pytest.skip("no Chromium on this machine")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.base_url}/")
            assert page.url.endswith("/signin")
            page.get_by_role("link", name="Make one").click()
            page.get_by_label("Email").fill("browser@example.com")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_label("Password again").fill("not the same password")
            page.get_by_role("button", name="Make my account").click()
            page.get_by_text("The two passwords differ.").wait_for()
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_label("Password again").fill(PASSWORD)
            page.get_by_role("button", name="Make my account").click()
            page.wait_for_url(f"{server.base_url}/")
            page.goto(f"{server.base_url}/account")
            assert page.locator("dd.email").inner_text() == "browser@example.com"
            assert page.locator("dd.plan").inner_text() == "starter"
            # The stylesheet loaded under the page's Content-Security-Policy.
            font = page.evaluate("getComputedStyle(document.body).fontFamily")
            assert "system-ui" in font
            page.get_by_role("button", name="Sign out", exact=True).click()
            page.wait_for_url(f"{server.base_url}/signin")
            page.get_by_label("Email").fill("browser@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server.base_url}/")
            page.goto(f"{server.base_url}/account")
            assert page.locator("dd.email").inner_text() == "browser@example.com"
        finally:
            browser.close()
    # The refused form's 400 is logged as a failed load; nothing broke the page's policy.
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e]


def test_the_account_pages_pass_axe_at_both_widths(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    with chromium() as browser:
        page = new_context(browser).new_page()
        page.goto(f"{server.base_url}/signin")
        look_at(page, "signin")
        page.get_by_label("Email").fill("not an address")
        page.goto(f"{server.base_url}/signup")
        look_at(page, "signup")
        page.get_by_label("Email").fill("axe@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill("a different password")
        page.get_by_role("button", name="Make my account").click()
        look_at(page, "signup-error")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Make my account").click()
        page.wait_for_url(f"{server.base_url}/")
        page.goto(f"{server.base_url}/account")
        look_at(page, "account")

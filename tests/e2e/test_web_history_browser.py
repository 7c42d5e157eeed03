"""The history page in a real browser (Debian's Chromium, Playwright): empty, then with
documents whose thumbnails load under the page's own Content-Security-Policy, filtered
through the form, times shown in the viewer's zone; axe-core finds no serious violation at
phone and desktop width in each state."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support.jobs import wait_final
from tests.support.processes import Process, new_account
from tests.support.web import PASSWORD, chromium, look_at

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("sqlite")]


def test_the_history_page_empty_and_with_thumbnails(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    email = "history-browser@example.com"
    _, key = new_account(env, email, plan="enterprise", password=PASSWORD)
    errors: list[str] = []
    with chromium() as browser:
        # The page's own policy holds here (no bypass): thumbnails and time.js must load
        # under it.
        page = browser.new_context().new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.base_url}/documents")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.base_url}/documents")
        assert page.get_by_text("No documents yet").is_visible()
        _axe(browser, page, "history-empty")

        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            bodies = [
                ("markdown", "# Travel plan\n\nDay one: the coast.", "Travel plan <b>2026</b>"),
                ("html", "<h1 style='font-size:60px'>Poster</h1><p>Big letters.</p>", ""),
                ("prompt", "A short note about the quarterly budget", ""),
            ]
            ids = []
            for kind, body, title in bodies:
                options = {"title": title} if title else {}
                answer = api.post(
                    "/v1/jobs", json={"type": kind, "input": body, "options": options}
                )
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["id"])
            for job_id in ids:
                assert wait_final(api, job_id)[0]["status"] == "succeeded"

        page.reload()
        cards = page.locator("li.history-doc")
        assert cards.count() == 3
        assert cards.first.locator(".history-title").inner_text().startswith("A short note")
        assert page.get_by_text("Travel plan <b>2026</b>").is_visible()  # as text
        thumbs = page.locator("img.history-thumb")
        thumbs.last.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.history-thumb')]"
            ".every(i => i.complete && i.naturalWidth === 200)"
        )
        srcs = [thumbs.nth(i).get_attribute("src") for i in range(3)]
        assert srcs == [f"/documents/{i}/thumbnail" for i in reversed(ids)]
        # time.js shows the viewer's own time, keeping the UTC text as the title.
        stamp = page.locator("time").first
        assert (stamp.get_attribute("title") or "").endswith("UTC")
        assert not stamp.inner_text().endswith("UTC")
        _axe(browser, page, "history-documents")

        page.get_by_label("Type").select_option("html")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**/documents?*type=html*")
        assert page.locator("li.history-doc").count() == 1
        page.get_by_label("Search titles and prompts").fill("no such words")
        page.get_by_role("button", name="Show").click()
        page.get_by_text("No documents match").wait_for()
        _axe(browser, page, "history-no-match")
        page.goto(f"{server.base_url}/documents?status=bogus")
        assert page.get_by_text("Choose a status from the list.").is_visible()
        _axe(browser, page, "history-error")
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def _axe(browser: Browser, page: Page, name: str) -> None:
    """`look_at` on a copy of the page opened with the policy bypassed (axe-core is
    injected as a script), with the same session."""
    context = browser.new_context(bypass_csp=True, storage_state=page.context.storage_state())
    try:
        copy = context.new_page()
        copy.goto(page.url)
        copy.wait_for_function("() => [...document.querySelectorAll('img')].every(i => i.complete)")
        look_at(copy, name)
    finally:
        context.close()

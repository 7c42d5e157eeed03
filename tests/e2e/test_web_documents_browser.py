"""The document pages in a real browser (Debian's Chromium under Playwright), on SQLite and
PostgreSQL: a person signs up, writes a description (the fake LLM writes the document),
watches its stage change live on the page (pushed over Server-Sent Events, no reload),
sees the PDF, revises it and finds both versions listed. The scripts run under the pages'
own Content-Security-Policy; the pages are checked with axe-core in each state."""

from __future__ import annotations

import re

import pytest
from playwright import sync_api

from tests.support.documents import documents_fixtures
from tests.support.llm import control
from tests.support.processes import Process
from tests.support.web import browser_sign_up, chromium, look_at, new_context, watch_stage

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("sqlite")]

WAIT_MS = 60_000


llm, docs = documents_fixtures("documents-browser")


def _document_id(page: sync_api.Page) -> str:
    found = re.search(r"/documents/([0-9a-f-]{36})$", page.url)
    assert found is not None, page.url
    return found.group(1)


def test_a_description_becomes_a_pdf_live_then_a_revision(
    docs: tuple[Process, dict[str, str]], llm: str
) -> None:
    server, _ = docs
    base = server.base_url
    # The model takes a while, so the page is seen while the document is being made.
    control(llm, reset=True, latency_ms=1500, chunk_ms=20)
    console: list[str] = []
    with chromium() as browser:
        strict = browser.new_context()  # the pages' own CSP applies
        page = strict.new_page()
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        reports = watch_stage(page)
        browser_sign_up(page, base, "live@example.com")

        # An example fills the box, and the count follows what is typed.
        count = page.locator("#input-count")
        assert count.inner_text() == "0 of 300 characters"
        page.get_by_role("link", name="An invoice").click()
        assert page.url == f"{base}/"  # filled by the script, not by a new page
        box = page.get_by_label("What should the PDF hold?")
        assert box.input_value().startswith("Invoice from Studio Ellis")
        assert page.locator("#document_kind").input_value() == "invoice"
        assert re.fullmatch(r"\d+ of 300 characters", count.inner_text())
        box.fill("Invoice for ACME Corp\nThree days of consulting in March")
        assert count.inner_text() == "55 of 300 characters"
        page.get_by_role("button", name="Make the PDF").click()
        page.wait_for_url(re.compile(r".*/documents/[0-9a-f-]{36}$"))
        first = _document_id(page)

        # The stage line changed under the page's script while it stayed loaded; once the
        # document is done the page loads again with the PDF in it.
        page.locator("iframe").wait_for(timeout=WAIT_MS)
        assert page.locator("iframe").get_attribute("src") == f"/documents/{first}/pdf"
        mine = [(kind, text) for path, kind, text in reports if path == f"/documents/{first}"]
        loaded = [text for kind, text in mine if kind == "loaded"]
        pushed = [text for kind, text in mine if kind == "pushed"]
        assert loaded and loaded[0] in ("Waiting in the queue.", "Writing the document.")
        assert any(text != loaded[0] for text in pushed), mine
        assert "Printing the PDF." in pushed or "Saving the PDF." in pushed, mine
        assert page.locator(".doc-pages").inner_text() == "1"
        assert page.get_by_role("link", name="Download the PDF").get_attribute("href") == (
            f"/documents/{first}/pdf?download=1"
        )

        page.get_by_label("What should change?").fill("Add a line thanking them")
        control(llm, latency_ms=0, chunk_ms=0)
        page.get_by_role("button", name="Make a revised version").click()
        page.wait_for_url(re.compile(r".*/documents/[0-9a-f-]{36}$"))
        second = _document_id(page)
        assert second != first
        page.locator("iframe").wait_for(timeout=WAIT_MS)
        versions = page.locator(".version-list li")
        assert versions.count() == 2
        assert versions.nth(0).locator("[aria-current=page]").inner_text().startswith("Version 2")
        versions.nth(1).get_by_role("link").click()
        page.wait_for_url(f"{base}/documents/{first}")
        assert page.locator(".version-list li").count() == 2
        state = strict.storage_state()
        strict.close()
    assert not [e for e in console if "Content Security Policy" in e or "Refused" in e], console

    with chromium() as browser:
        checked = new_context(browser, storage_state=state)
        page = checked.new_page()
        page.goto(f"{base}/documents/{second}")
        page.locator("iframe").wait_for()
        look_at(page, "document-done")
        page.goto(f"{base}/")
        look_at(page, "new-empty")


def test_the_pages_in_each_state_pass_axe(docs: tuple[Process, dict[str, str]], llm: str) -> None:
    server, _ = docs
    base = server.base_url
    with chromium() as browser:
        page = new_context(browser).new_page()
        browser_sign_up(page, base, "axe-documents@example.com")

        # Errors next to their fields, the options panel opened to show its own.
        page.locator("label[for=type-markdown]").click()
        page.get_by_text("Page and PDF options").click()
        page.get_by_label("Top").fill("12 parsecs")
        page.get_by_role("button", name="Make the PDF").click()
        assert page.locator("#input-error").inner_text().endswith("the box is empty.")
        assert "CSS length" in page.locator("#margin_top-error").inner_text()
        assert page.locator("details.options").get_attribute("open") is not None
        look_at(page, "new-errors")

        # Being made: the model never answers until it is canceled.
        control(llm, reset=True, behaviours={"model:fake-large": "hang"})
        page.goto(f"{base}/")
        page.get_by_label("What should the PDF hold?").fill("A letter that never comes")
        page.get_by_role("button", name="Make the PDF").click()
        page.wait_for_url(re.compile(r".*/documents/[0-9a-f-]{36}$"))
        page.get_by_text("Writing the document.").wait_for(timeout=WAIT_MS)
        look_at(page, "document-running")
        page.get_by_role("button", name="Cancel this document").click()
        page.get_by_role("heading", name="Canceled").wait_for(timeout=WAIT_MS)
        look_at(page, "document-canceled")
        control(llm, reset=True)

        # Failed: more pages than the plan allows.
        pages = "".join(f'<p style="break-after: page">Page {n}</p>' for n in range(1, 8))
        page.goto(f"{base}/")
        page.locator("label[for=type-html]").click()
        page.get_by_label("What should the PDF hold?").fill(f"<html><body>{pages}</body></html>")
        page.get_by_role("button", name="Make the PDF").click()
        page.get_by_role("heading", name="This document could not be made").wait_for(
            timeout=WAIT_MS
        )
        assert page.get_by_role("button", name="Retry").is_visible()
        look_at(page, "document-failed")

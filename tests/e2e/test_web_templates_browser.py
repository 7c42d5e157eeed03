"""The template editor in a real browser (Debian's Chromium under Playwright), on SQLite and
PostgreSQL: under the page's own Content-Security-Policy its script sends an edit to the
preview frame a moment after typing stops, and the PDF printed is the edit's. The
templates list, the editor and the assets page (an uploaded image's thumbnail shown) pass
axe-core."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import pytest
from playwright import sync_api

from tests.support.assets import png
from tests.support.documents import documents_fixtures
from tests.support.llm import control
from tests.support.processes import Process
from tests.support.render import pdf_text
from tests.support.web import (
    assert_pending_preview_fits,
    browser_sign_up,
    chromium,
    look_at,
    new_context,
)

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("sqlite")]

WAIT_MS = 60_000

llm, docs = documents_fixtures("templates-browser")


def _preview_of(body_text: str) -> object:
    """A predicate for the preview request whose posted body holds `body_text`."""

    def matches(response: sync_api.Response) -> bool:
        request = response.request
        if request.method != "POST" or not response.url.endswith("/templates/preview"):
            return False
        posted = parse_qs(request.post_data or "")
        return body_text in posted.get("body", [""])[0]

    return matches


def test_an_edit_updates_the_preview_live(docs: tuple[Process, dict[str, str]], llm: str) -> None:
    server, _ = docs
    base = server.base_url
    control(llm, reset=True, latency_ms=0, chunk_ms=0)
    console: list[str] = []
    with chromium() as browser:
        strict = browser.new_context(accept_downloads=False)  # the pages' own CSP applies
        page = strict.new_page()
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        browser_sign_up(page, base, "editor@example.com")
        page.get_by_role("link", name="Templates").click()
        page.wait_for_url(f"{base}/templates")
        page.get_by_role("link", name="New template").click()
        page.wait_for_url(f"{base}/templates/new")
        page.get_by_label("Name").fill("letter")
        page.get_by_label("Sample data (JSON)").fill(json.dumps({"name": "Ada"}))
        with page.expect_response(_preview_of("First draft"), timeout=WAIT_MS) as first:
            page.get_by_label("Body").fill("<h1>First draft for {{ name }}</h1>")
        assert first.value.status == 200
        assert first.value.headers["content-type"] == "application/pdf"
        page.get_by_role("button", name="Save the template").click()
        page.wait_for_url(re.compile(r".*/templates/tpl_[^?]+\?saved=1$"))
        assert page.get_by_role("status").first.inner_text() == "Saved as version 1."
        history = page.evaluate("history.length")

        # The saved template's page previews its sample at once, then each edit.
        with page.expect_response(_preview_of("Second draft"), timeout=WAIT_MS) as second:
            page.get_by_label("Body").fill("<h1>Second draft for {{ name }}</h1>")
        answer = second.value
        assert answer.status == 200
        assert answer.headers["content-security-policy"] == "frame-ancestors 'self'"
        # Headless Chromium has no PDF viewer (the frame's PDF is not kept to read): the same
        # request the script sent, sent again by this browser, prints the edit.
        again = strict.request.post(
            answer.url,
            data=answer.request.post_data or "",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert again.status == 200
        text = pdf_text(again.body())
        assert "Second draft for Ada" in text and "PREVIEW" in text
        assert page.locator("[data-preview-status]").inner_text().startswith("Preview updated")

        # A mistake: the frame shows why, named, without leaving the editor.
        with page.expect_response(_preview_of("{% if"), timeout=WAIT_MS) as broken:
            page.get_by_label("Body").fill("<h1>{% if name %}unclosed</h1>")
        assert broken.value.status == 400
        frame = page.frame_locator("#preview")
        frame.locator('[data-preview-error="body"]').wait_for(timeout=WAIT_MS)
        assert "Line 1" in frame.locator(".error").inner_text()
        # The Preview button sends the same; no preview is a step of the tab's history (Back
        # leaves the editor), and one frame is left in the page.
        with page.expect_response(_preview_of("{% if"), timeout=WAIT_MS) as pressed:
            page.get_by_role("button", name="Preview").click()
        assert pressed.value.status == 400
        # The new frame takes the last one's place once its page has loaded.
        # (Playwright's own check: a polled function is evaluated as a string, which the page's
        # policy refuses.)
        sync_api.expect(page.locator("iframe")).to_have_count(1, timeout=WAIT_MS)
        assert "Line 1" in frame.locator(".error").inner_text()
        assert page.evaluate("history.length") == history
        # While a preview is on its way, its frame waits out of sight and widens nothing.
        assert_pending_preview_fits(
            page, "**/templates/preview", "template editor, a preview pending"
        )
        sync_api.expect(page.locator("iframe")).to_have_count(1, timeout=WAIT_MS)
        editor_url = page.url.split("?")[0]
        template_id = editor_url.rsplit("/", 1)[1]

        # A batch of the template, made through the API with a key made on the keys page:
        # its page follows it under the page's own policy until it is complete.
        page.goto(f"{base}/keys")
        page.get_by_role("button", name="Make a key").click()
        key = page.locator("#new-key").input_value()
        made = strict.request.post(
            f"{base}/v1/batches",
            headers={"Authorization": f"Bearer {key}"},
            data={"template": template_id, "items": [{"name": f"Row {n}"} for n in range(3)]},
        )
        assert made.status == 202, made.text()
        batch_id = made.json()["id"]
        page.goto(f"{base}/batches")
        page.get_by_role("link", name=batch_id).click()
        page.get_by_text("Complete: 3 of 3 done.").wait_for(timeout=WAIT_MS)
        assert page.get_by_role("link", name="Download the PDFs (ZIP)").is_visible()
        state = strict.storage_state()
        strict.close()
    assert not [e for e in console if "Content Security Policy" in e or "Refused" in e], console

    with chromium() as browser:
        checked = new_context(browser, storage_state=state)
        page = checked.new_page()
        page.goto(f"{base}/templates")
        look_at(page, "templates-list")
        page.goto(editor_url)
        page.locator("#preview").wait_for()
        look_at(page, "template-editor")
        page.goto(f"{base}/batches")
        look_at(page, "batches")
        page.goto(f"{base}/batches/{batch_id}")
        look_at(page, "batch-complete")
        page.goto(f"{base}/templates/new")
        page.get_by_label("Name").fill("broken")
        page.get_by_label("Body").fill("{{ broken }")
        page.get_by_role("button", name="Save the template").click()
        page.locator("#body-error").wait_for()
        look_at(page, "template-editor-errors")

        page.goto(f"{base}/assets")
        look_at(page, "assets-empty")
        page.get_by_label("File").set_input_files(
            files=[{"name": "logo.png", "mimeType": "image/png", "buffer": png((214, 31, 47))}]
        )
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url(f"{base}/assets")
        thumbnail = page.locator(".asset-thumb img")
        thumbnail.wait_for()
        assert page.evaluate(
            "(img) => img.complete && img.naturalWidth", thumbnail.element_handle()
        )
        page.get_by_label("File").set_input_files(
            # A ZIP archive: none of the types assets take (text and PDFs are, now).
            files=[
                {"name": "notes.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04\x00"}
            ]
        )
        page.get_by_role("button", name="Upload").click()
        page.locator("#file-error").wait_for()
        look_at(page, "assets")

"""Sharing, usage, API keys and webhooks in a real browser (Debian's Chromium under
Playwright), against `pdfprompt serve` on SQLite and PostgreSQL: a document shared from its
page, the link opened in a fresh profile that is signed out (the viewer loads the PDF, the
download counts), revoked (a 410 page); every page checked by axe-core at phone and desktop
width. Webhook deliveries go to a receiver on 127.0.0.1 only."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from tests.support.people import People, finished
from tests.support.processes import Process
from tests.support.receiver import Receiver
from tests.support.web import (
    browser_sign_in,
    chromium,
    look_at,
    new_context,
    served_fixture,
)

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("sqlite")]

ALLOW = {
    "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE": "true",
    "PDFPROMPT_WEBHOOK_RETRY_BASE_S": "0.2",
    "PDFPROMPT_WEBHOOK_TIMEOUT_S": "2",
    "PDFPROMPT_WEBHOOK_POLL_MS": "100",
}


# `pdfprompt serve` that may deliver webhooks to a receiver on loopback.
allowing = served_fixture("allowing", **ALLOW)


@pytest.fixture
def person(allowing: tuple[Process, dict[str, str]]) -> Iterator[People]:
    people = People(*allowing)
    yield people
    people.close()


def signed_in(browser: sync_api.Browser, server: Process, email: str) -> sync_api.Page:
    context = new_context(browser)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    page = context.new_page()
    browser_sign_in(page, server.base_url, email)
    return page


def sends_document(response: sync_api.Response) -> bool:
    """Whether an answer carried the PDF, as the server counts downloads."""
    if response.status == 200:
        return True
    return response.status == 206 and int(response.headers.get("content-length", "0")) > 1


def test_a_shared_document_opens_signed_out_and_stops_when_revoked(person: People) -> None:
    server = person.server
    _, api = person("browser-sharer@example.com")
    job = finished(api, "Quarterly report")
    file_id = job["file"]["id"]
    with chromium() as browser:
        owner = signed_in(browser, server, "browser-sharer@example.com")
        owner.goto(f"{server.base_url}/documents/{job['id']}/share")
        assert owner.get_by_text("No links yet.").is_visible()
        look_at(owner, "share")
        owner.get_by_label("Works for").select_option(str(86400))
        owner.get_by_label("Most downloads (optional)").fill("5")
        owner.get_by_role("button", name="Make a link").click()
        link = owner.get_by_role("textbox", name="Link").input_value()
        assert re.fullmatch(rf"{re.escape(server.base_url)}/s/[A-Za-z0-9_-]{{32}}", link)
        copy = owner.get_by_role("button", name="Copy")
        assert copy.is_visible()  # the script ran under the page's policy
        copy.click()
        sync_api.expect(owner.get_by_text("Copied.")).to_be_visible()
        assert owner.evaluate("navigator.clipboard.readText()") == link
        look_at(owner, "share-made")

        visitor = new_context(browser, accept_downloads=True).new_page()
        answers: list[sync_api.Response] = []
        visitor.on("response", lambda r: answers.append(r) if "/pdf" in r.url else None)
        with visitor.expect_response(lambda r: r.url.endswith("/pdf")) as viewer:
            opened = visitor.goto(link)
        assert opened is not None and opened.status == 200
        assert viewer.value.status == 200
        assert viewer.value.headers["content-type"] == "application/pdf"
        assert viewer.value.headers["content-disposition"].startswith("inline;")
        sync_api.expect(visitor.get_by_role("heading", level=1)).to_have_text("Quarterly report")
        frame = visitor.locator("iframe.viewer")
        sync_api.expect(frame).to_be_visible()
        box = frame.bounding_box()
        assert box is not None and box["height"] > 300
        assert visitor.get_by_role("button", name="Sign out").count() == 0
        look_at(visitor, "shared-page")
        with visitor.expect_download() as saved:
            visitor.get_by_role("link", name="Download the PDF").click()
        assert saved.value.suggested_filename == "Quarterly report.pdf"
        assert Path(saved.value.path()).read_bytes() == api.get(f"/v1/jobs/{job['id']}/pdf").content
        # Downloads: what the viewer fetched (one answer here; a viewer may ask for parts),
        # and the saved file. The page itself is none.
        viewed = [a for a in answers if sends_document(a)]
        assert len(viewed) >= 1
        counted = len(viewed) + 1
        [share] = api.get(f"/v1/files/{file_id}/shares").json()["items"]
        assert share["downloads"] == counted
        owner.goto(f"{server.base_url}/documents/{job['id']}/share")  # a reload would post again
        sync_api.expect(owner.locator("td.downloads")).to_have_text(f"{counted} of 5")

        owner.get_by_role("button", name=re.compile(r"^Revoke the link")).click()
        sync_api.expect(owner.locator("td.state")).to_have_text("Revoked")
        gone = visitor.reload()
        assert gone is not None and gone.status == 410
        sync_api.expect(visitor.get_by_role("heading", level=1)).to_have_text(
            "This link no longer works"
        )
        assert visitor.get_by_text("was revoked").is_visible()
        look_at(visitor, "shared-gone")


def _ended(api: httpx.Client, hook_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = api.get(f"/v1/webhooks/{hook_id}/deliveries").json()["items"]
        if items and items[0]["status"] != "pending":
            return dict(items[0])
        time.sleep(0.05)
    raise AssertionError(f"the delivery of webhook {hook_id} did not end")


def test_usage_keys_and_webhooks_pages(person: People) -> None:
    server = person.server
    _, api = person("browser-account@example.com", plan="starter")
    finished(api)
    with chromium() as browser, Receiver(script=[500]) as receiver:
        page = signed_in(browser, server, "browser-account@example.com")
        page.get_by_role("link", name="Usage").click()
        sync_api.expect(page.locator("p.pdfs")).to_contain_text("1 made")
        sync_api.expect(
            page.get_by_role("img", name=re.compile("PDFs made per day"))
        ).to_be_visible()
        look_at(page, "usage")

        page.get_by_role("navigation").get_by_role("link", name="API keys").click()
        page.wait_for_url(f"{server.base_url}/keys")
        look_at(page, "keys")
        page.get_by_label("Name (optional)").fill("laptop")
        page.get_by_label(re.compile("^Usage, API keys and webhooks")).uncheck()
        page.get_by_label("Stops working").select_option(label="After 90 days")
        page.get_by_role("button", name="Make a key").click()
        key = page.get_by_label("Key", exact=True).input_value()
        assert key.startswith("pp_")
        look_at(page, "keys-made")
        with httpx.Client(base_url=server.base_url, timeout=30) as program:
            headers = {"Authorization": f"Bearer {key}"}
            assert program.get("/v1/jobs", headers=headers).status_code == 200
        page.goto(f"{server.base_url}/keys")
        assert key not in page.content()
        for box in page.get_by_role("checkbox").all():
            box.uncheck()
        page.get_by_role("button", name="Make a key").click()
        sync_api.expect(page.locator("#scopes-error")).to_be_visible()
        look_at(page, "keys-error")

        page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
        page.wait_for_url(f"{server.base_url}/webhooks")
        look_at(page, "webhooks")
        page.get_by_label("URL").fill("ftp://example.com/hook")
        page.get_by_role("button", name="Add the endpoint").click()
        sync_api.expect(page.locator("#url-error")).to_be_visible()
        look_at(page, "webhooks-error")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Description (optional)").fill("Receiver on this machine")
        for box in page.get_by_role("checkbox").all():
            box.uncheck()
        page.get_by_label(re.compile("PDF is ready")).check()
        page.get_by_role("button", name="Add the endpoint").click()
        assert page.get_by_role("textbox", name="Signing secret").input_value().startswith("whsec_")
        look_at(page, "webhook-made")
        [hook] = api.get("/v1/webhooks").json()["items"]
        finished(api)
        _ended(api, hook["id"])
        page.goto(f"{server.base_url}/webhooks/{hook['id']}")
        sync_api.expect(page.locator("td.code")).to_have_text(["500", "200"])
        look_at(page, "webhook")
        page.get_by_role("button", name="Turn off").click()
        sync_api.expect(page.locator("dd.state")).to_contain_text("Off since")
        page.get_by_role("button", name="Delete").click()
        page.wait_for_url(f"{server.base_url}/webhooks")
        assert page.get_by_text("No endpoints yet.").is_visible()
    assert len(receiver.hits) == 2

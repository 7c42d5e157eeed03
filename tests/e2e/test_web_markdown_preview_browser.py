"""The compose page's Markdown preview. Over HTTP: the preview is the HTML the PDF is
printed from (`pdfprompt render --emit html` gives the same), served under a policy that
lets it load and run nothing, and every refusal (no session, a forged form, too much
Markdown, too many previews) is a few words in the frame, never a 5xx. In a real browser
(Debian's Chromium under Playwright, the page's own CSP): typing Markdown shows its heading
in the sandboxed frame a moment later, and a script in the Markdown does not run.

The preview reads nothing from the database but the session, as every page does: one
SQLite deployment serves these tests."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest
from playwright import sync_api

from tests.support.documents import person
from tests.support.processes import Process, cli, serving
from tests.support.web import (
    assert_pending_preview_fits,
    browser_sign_up,
    chromium,
    client,
    csrf,
    look_at,
    new_context,
    post,
)

MAX_INPUT_BYTES = 4096
PREVIEWS_PER_MINUTE = 120  # actions.MARKDOWN_PREVIEWS_PER_MINUTE
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)
HOSTILE = (
    "# Hostile\n\n<script>window.parent.document.title = 'owned'</script>\n\n"
    "<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n\n"
    '<iframe src="https://example.com/"></iframe>\n'
)
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("markdown-preview")
    with serving(
        request,
        tmp,
        "sqlite",
        PDFPROMPT_MAX_INPUT_BYTES=str(MAX_INPUT_BYTES),
        PDFPROMPT_TRUSTED_PROXIES="127.0.0.1",
    ) as started:
        yield started


def _preview(c: httpx.Client, text: str, token: str | None = None) -> httpx.Response:
    token = csrf(c.get("/")) if token is None else token
    return post(c, "/documents/preview", csrf=token, type="markdown", input=text)


def _framed(r: httpx.Response) -> None:
    """An answer the preview frame shows: HTML that may load and run nothing."""
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == PREVIEW_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


def test_the_preview_is_the_html_the_pdf_is_printed_from(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    with person(server, "preview@example.com") as c:
        r = _preview(c, HOSTILE)
    assert r.status_code == 200, r.text
    _framed(r)
    assert '<h1 id="hostile">Hostile</h1>' in r.text
    # Raw HTML in Markdown is text, links to scripts are no links.
    assert "<script" not in r.text and "<img" not in r.text and "<iframe" not in r.text
    assert "javascript:" not in r.text.split("</style>")[-1].replace("[click](javascript:", "")
    assert cli(env, "render", "-", "--emit", "html", stdin=HOSTILE).stdout == r.text


def test_refusals_are_words_in_the_frame(served: tuple[Process, dict[str, str]]) -> None:
    server, _ = served
    with client(server) as stranger:
        signed_out = post(stranger, "/documents/preview", csrf="x", input="# Hi")
    assert signed_out.status_code == 403
    _framed(signed_out)
    assert "signed out" in signed_out.text

    with person(server, "refused@example.com") as c:
        forged = _preview(c, "# Hi", token="not-the-token")
        assert forged.status_code == 403
        _framed(forged)
        assert "expired" in forged.text

        too_large = _preview(c, "x" * (MAX_INPUT_BYTES + 1))
        assert too_large.status_code == 413
        _framed(too_large)
        assert "too large" in too_large.text
        assert _preview(c, "é" * (MAX_INPUT_BYTES // 2)).status_code == 200  # bytes, not chars
        wide = _preview(c, "|h" * 600 + "|\n" + "|-" * 600 + "|\n" + "x\n" * 500)
        assert wide.status_code == 422
        _framed(wide)
        assert "more than 250,000" in wide.text

        # Past the previews' own rate a minute: within two minute-windows, 2N+1 requests
        # put more than N into one of them, wherever the boundary falls.
        token = csrf(c.get("/"))
        answers = []
        for _ in range(2 * PREVIEWS_PER_MINUTE + 1):
            answers.append(_preview(c, "# Hi", token))
            if answers[-1].status_code == 429:
                break
        last = answers[-1]
        assert last.status_code == 429, [a.status_code for a in answers[-3:]]
        _framed(last)
        assert int(last.headers["retry-after"]) >= 1
        assert "Markdown preview allows 120 requests a minute" in last.text
        # The plan's own requests a minute (60 on this plan) were not used up by previews.
        page = c.get("/")
        made = post(c, "/documents", csrf=csrf(page), type="markdown", input="# Kept")
        assert made.status_code == 303, made.text


@pytest.mark.chromium
def test_typing_markdown_shows_it_in_the_sandboxed_frame(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, _ = served
    base = server.base_url
    console: list[str] = []
    with chromium() as browser:
        strict = browser.new_context()  # the page's own CSP applies
        page = strict.new_page()
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(str(e)))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        browser_sign_up(page, base, "writer@example.com")
        # The preview belongs to the Markdown tab only.
        assert not page.get_by_role("button", name="Preview").is_visible()
        page.get_by_text("Markdown", exact=True).click()
        assert page.get_by_role("button", name="Preview").is_visible()
        frame_element = page.get_by_title("Preview of your Markdown")
        assert frame_element.get_attribute("sandbox") == ""
        assert page.get_by_role("region", name="Preview").is_visible()

        def sent(text: str) -> object:
            def matches(response: sync_api.Response) -> bool:
                posted = parse_qs(response.request.post_data or "")
                return (
                    response.url.endswith("/documents/preview")
                    and text in posted.get("input", [""])[0]
                )

            return matches

        box = page.get_by_label("What should the PDF hold?")
        history = page.evaluate("history.length")
        with page.expect_response(sent("Quarterly"), timeout=WAIT_MS):
            box.press_sequentially("# Quarterly report\n\nSales **grew**.", delay=20)
        frame = page.frame_locator("#md-preview")
        heading = frame.get_by_role("heading", name="Quarterly report")
        heading.wait_for(timeout=WAIT_MS)
        assert frame.locator("strong").inner_text() == "grew"
        # The character count still follows the typing beside the preview.
        typed = len("# Quarterly report\n\nSales **grew**.")
        assert page.locator("#input-count").inner_text().startswith(f"{typed} of ")
        assert not console, console

        # A script in the Markdown is text in the frame, and nothing runs.
        with page.expect_response(sent("owned"), timeout=WAIT_MS):
            box.fill(HOSTILE)
        frame.get_by_role("heading", name="Hostile").wait_for(timeout=WAIT_MS)
        assert "<script>" in frame.locator("body").inner_text()
        assert page.title() != "owned" and not dialogs
        assert frame.locator("script, img, iframe").count() == 0

        # The previews are not steps of the tab's history (Back leaves the page), and the
        # Preview button sends one the same way.
        box.fill("# Pressed")
        page.get_by_role("button", name="Preview").click()
        frame.get_by_role("heading", name="Pressed").wait_for(timeout=WAIT_MS)
        assert page.evaluate("history.length") == history
        assert page.locator("iframe").count() == 1

        # While a preview is on its way, its frame waits out of sight and widens nothing.
        box.fill("# Held")
        assert_pending_preview_fits(page, "**/documents/preview", "compose, a preview pending")
        frame.get_by_role("heading", name="Held").wait_for(timeout=WAIT_MS)
        sync_api.expect(page.locator("iframe")).to_have_count(1, timeout=WAIT_MS)

        checked = new_context(browser).new_page()  # axe-core injected, so no page CSP
        browser_sign_up(checked, base, "looker@example.com")
        checked.get_by_text("Markdown", exact=True).click()
        checked.get_by_label("What should the PDF hold?").fill(
            "# Ready to print\n\nA paragraph with *emphasis* and `code`.\n\n- one\n- two\n\n"
            "| Item | Price |\n|------|------:|\n| Tea | 2.50 |\n| Cake | 3.20 |\n"
        )
        checked.frame_locator("#md-preview").get_by_role("heading", name="Ready to print").wait_for(
            timeout=WAIT_MS
        )
        # (A full-page screenshot may catch the frame, a process of its own, before it
        # has painted at the new width: the frame's content is checked above, not there.)
        look_at(checked, "compose-markdown-preview")
    assert not console, console


@pytest.mark.chromium
def test_without_javascript_the_preview_button_fills_the_frame(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, _ = served
    base = server.base_url
    with chromium() as browser:
        page = browser.new_context(java_script_enabled=False).new_page()
        browser_sign_up(page, base, "nojs@example.com")
        page.get_by_text("Markdown", exact=True).click()
        hint = page.locator("#md-preview-hint").inner_text()
        assert hint.startswith("Press Preview")
        page.get_by_label("What should the PDF hold?").fill("# Written without scripts")
        page.get_by_role("button", name="Preview").click()
        frame = page.frame_locator("#md-preview")
        frame.get_by_role("heading", name="Written without scripts").wait_for(timeout=WAIT_MS)
        assert page.url == f"{base}/"  # the page stayed; only the frame changed

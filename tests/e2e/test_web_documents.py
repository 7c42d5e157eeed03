"""The document pages over real HTTP, as a browser without JavaScript uses them, against
`pdfprompt serve` on SQLite and PostgreSQL with the fake LLM as its model: submitting a
description, Markdown or HTML; errors next to their fields; the plan's limits; the page of
a document while it runs (its event stream, cancelling) and once it ended (the PDF inline
and as a download, revising, versions, making it again, deleting); CSRF on every form and
another person's documents."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from tests.support.documents import (
    PROMPT_LIMIT,
    documents_fixtures,
    events,
    field_error,
    finished,
    made,
    person,
    person_on_plan,
    submit,
)
from tests.support.llm import control
from tests.support.processes import Process
from tests.support.web import CSP, VIEWER_CSP, assert_page_headers, csrf, post

pytestmark = pytest.mark.one_database("sqlite")

llm, docs = documents_fixtures("documents")


@pytest.fixture(autouse=True)
def answering(llm: str) -> None:
    """The fake model answers at once unless a test says otherwise."""
    control(llm, reset=True, latency_ms=0, chunk_ms=0)


def _hang(llm: str) -> None:
    control(llm, behaviours={"model:fake-large": "hang"})


def _pdf_of(c: httpx.Client, job_id: str) -> httpx.Response:
    r = c.get(f"/documents/{job_id}/pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-"), r.text[:300]
    return r


def _box(page: httpx.Response) -> str:
    """What the page's text box holds."""
    found = re.search(r'<textarea id="input"[^>]*>\n([^<]*)</textarea>', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def test_the_new_document_page_states_its_limits_and_fills_in_examples(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with httpx.Client(base_url=server.base_url) as anonymous:
        first = anonymous.get("/", follow_redirects=False)
        assert (first.status_code, first.headers["location"]) == (303, "/signin")
    with person(server, "new-page@example.com") as c:
        page = c.get("/")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert_page_headers(page)
        assert "<script>" not in page.text and "style=" not in page.text
        assert '<script src="/static/new.js" defer></script>' in page.text
        assert f"at most {PROMPT_LIMIT:,} characters on your plan" in page.text
        for value in ("prompt", "markdown", "html"):
            assert f'name="type" id="type-{value}" value="{value}"' in page.text
        assert 'id="type-prompt" value="prompt" checked' in page.text
        for tone in ("formal", "friendly", "concise"):
            assert f'<option value="{tone}">' in page.text
        for kind in ("invoice", "letter", "menu"):
            assert f'<option value="{kind}">' in page.text
        assert '<details class="options">' in page.text  # folded
        for name in ("title", "format", "margin_top", "header_html", "footer_html"):
            assert f'name="{name}"' in page.text
        examples = re.findall(r'href="/\?example=(\d)"', page.text)
        assert examples == ["0", "1", "2", "3"]
        filled = c.get("/?example=0")
        assert _box(filled).startswith("Invoice from Studio Ellis")
        assert '<option value="invoice" selected>' in filled.text
        assert '<option value="formal" selected>' in filled.text
        assert _box(page) == _box(c.get("/?example=99")) == ""
        # Digits `int` refuses (a superscript, thousands of them) are no example either.
        for hostile in ("%C2%B2", "9" * 5000, "-1", "%D9%A1", "0x1"):
            odd = c.get(f"/?example={hostile}")
            assert odd.status_code == 200 and _box(odd) == "", hostile
        for path in (
            "/static/preview.js",
            "/static/new.js",
            "/static/document.js",
            "/static/time.js",
        ):
            js = c.get(path)
            assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_markdown_html_and_a_description_each_make_a_pdf(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "makes@example.com") as c:
        markdown = made(
            c, type="markdown", input="# Quarterly figures\n\nSales rose.", title="Q3 report"
        )
        page = finished(c, markdown)
        assert '<h1 class="doc-title">Q3 report</h1>' in page.text
        assert '<dd class="doc-type">Markdown</dd>' in page.text
        assert f'<iframe src="/documents/{markdown}/pdf"' in page.text
        assert f'href="/documents/{markdown}/pdf?download=1"' in page.text
        assert f'href="/documents/{markdown}/share"' in page.text
        assert '<dd class="doc-pages">1</dd>' in page.text
        assert "data-events" not in page.text and "http-equiv" not in page.text
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d+ \w+ \d{4}, ', page.text)
        _pdf_of(c, markdown)

        page_html = (
            "<html><head><title>Menu of the day</title></head><body><p>Soup</p></body></html>"
        )
        framed = made(c, type="html", input=page_html, orientation="landscape", format="A5")
        page = finished(c, framed)
        assert '<h1 class="doc-title">Menu of the day</h1>' in page.text
        assert '<dd class="doc-type">HTML</dd>' in page.text

        # Line ends arrive as CRLF from a browser: counted once, as the person typed them.
        text = "Invoice for ACME\r\n" + "\r\n".join(["ab"] * 90)
        assert len(text) > PROMPT_LIMIT >= len(text.replace("\r\n", "\n"))
        written = made(c, input=text, tone="formal")
        page = finished(c, written)
        assert '<dd class="doc-type">A description</dd>' in page.text
        assert '<h1 class="doc-title">Invoice for ACME ab ab ab ab ab …</h1>' in page.text
        assert "Prepared by the fake model" not in page.text  # the PDF is not in the page
        assert b"%PDF-" in _pdf_of(c, written).content[:8]


def test_option_errors_appear_next_to_their_fields_with_the_values_kept(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "options@example.com") as c:
        text = "# Kept as typed <b>"
        r = submit(
            c,
            type="markdown",
            input=text,
            title="x" * 1001,
            format="B9",
            margin_top="12 parsecs",
            margin_left="1in",
            header_html='<img src="https://example.com/logo.png">',
            footer_html="<script>alert(1)</script>",
        )
        assert r.status_code == 400
        assert field_error(r, "title") == "At most 1,000 characters."
        assert field_error(r, "format") == "Choose one of the values offered."
        assert "CSS length" in field_error(r, "margin_top")
        assert "cannot load anything" in field_error(r, "header_html")
        assert "cannot load anything" in field_error(r, "footer_html")
        assert 'id="margin_left-error"' not in r.text
        assert '<details class="options" open>' in r.text  # the errors are in it
        assert html.escape(text) in r.text and 'value="12 parsecs"' in r.text
        assert 'value="1in"' in r.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert 'id="margin_top" name="margin_top"' in r.text
        assert 'aria-invalid="true" aria-describedby="margin_top-error margin-hint"' in r.text

        # Margins that leave nothing to print on: the page as a whole, on the first margin.
        r = submit(c, type="markdown", input="# x", margin_left="100mm", margin_right="120mm")
        assert r.status_code == 400
        assert "left and right margins" in field_error(r, "margin_left")

        for fields, name, words in (
            ({"type": "markdown", "input": "  \r\n "}, "input", "the box is empty"),
            ({"type": "pdf", "input": "x"}, "type", "Choose a description"),
            ({"input": "x", "tone": "rude"}, "tone", "Choose one of the values"),
            ({"input": "x", "document_kind": "poem"}, "document_kind", "Choose one of"),
            ({"type": "html", "input": "x", "orientation": "diagonal"}, "orientation", "portrait"),
        ):
            r = submit(c, **fields)
            assert r.status_code == 400, fields
            assert words in field_error(r, name)
        # A description's tone means nothing to Markdown: not sent, not refused.
        ok = submit(c, type="markdown", input="# fine", tone="rude")
        assert ok.status_code == 303


def test_a_description_over_the_plans_limit_and_a_used_up_month(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, env = docs
    with person(server, "limit@example.com") as c:
        long = "y" * (PROMPT_LIMIT + 1)
        r = submit(c, input=long)
        assert r.status_code == 400
        assert (
            field_error(r, "input")
            == f"{PROMPT_LIMIT + 1} characters; the limit is {PROMPT_LIMIT}."
        )
        assert long in r.text  # kept
        # The limit is a description's: Markdown may be longer.
        assert submit(c, type="markdown", input="z " * PROMPT_LIMIT).status_code == 303
    with person_on_plan(server, env, "single@example.com", "single") as c:
        made(c, type="markdown", input="# The one")
        r = submit(c, type="markdown", input="# One more", title="Kept title")
        assert r.status_code == 429
        alert = re.search(r'<p class="error" role="alert">([^<]*)</p>', r.text)
        assert alert is not None and "used up" in alert.group(1)
        assert "Nothing was submitted" in alert.group(1)
        assert "# One more" in r.text and 'value="Kept title"' in r.text
        assert "1 of 1 PDFs used this month" in r.text


def test_an_input_over_the_servers_size_limit_is_refused(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "huge@example.com") as c:
        # 1 MiB is the input limit; the form may carry it percent-encoded, not more.
        r = submit(c, type="markdown", input="a" * (1024 * 1024 + 1))
        assert r.status_code == 413
        assert "over the limit of 1048576 bytes" in field_error(r, "input")
        # Past what the form may carry (under what the server takes at all): refused unread.
        token = csrf(c.get("/"))
        over = "%" * (1024 * 1024 + 16 * 1024)  # three bytes each, percent-encoded
        r = post(c, "/documents", csrf=token, type="markdown", input=over)
        assert r.status_code == 413 and "Too large" in r.text


def test_hostile_text_is_shown_as_text(docs: tuple[Process, dict[str, str]]) -> None:
    server, _ = docs
    hostile = '<script>alert(1)</script> "><img src=x onerror=alert(2)> </textarea><b>'
    with person(server, "hostile@example.com") as c:
        job = made(c, type="markdown", input=hostile, title='"><img onerror=x>')
        page = finished(c, job)
        assert "<script>alert" not in page.text and "<img" not in page.text
        assert "</textarea><b>" not in page.text
        assert "&#34;&gt;&lt;img onerror=x&gt;" in page.text  # the title
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # what was given
        assert 'title="The PDF of &#34;&gt;&lt;img onerror=x&gt;"' in page.text
        refused = submit(c, input=hostile, margin_top="<script>")
        assert refused.status_code == 400
        assert "<script>alert" not in refused.text and "</textarea><b>" not in refused.text
        assert "&lt;/textarea&gt;&lt;b&gt;" in refused.text


def test_another_persons_document_is_not_found(docs: tuple[Process, dict[str, str]]) -> None:
    server, _ = docs
    with person(server, "owner@example.com") as owner, person(server, "other@example.com") as c:
        job = made(owner, type="markdown", input="# Mine")
        finished(owner, job)
        token = csrf(c.get("/"))
        for path in ("", "/events", "/pdf", "/pdf?download=1"):
            r = c.get(f"/documents/{job}{path}")
            assert r.status_code == 404 and "not yours to see" in r.text, path
        for action in ("cancel", "revise", "regenerate", "delete"):
            r = post(c, f"/documents/{job}/{action}", csrf=token, instructions="take it")
            assert r.status_code == 404, action
        assert c.get("/documents/not-an-id").status_code == 404
        assert owner.get(f"/documents/{job}").status_code == 200  # still there


def test_every_form_refuses_a_missing_or_foreign_token(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "csrf-doc@example.com") as c, person(server, "csrf-b@example.com") as b:
        job = made(c, type="markdown", input="# Guarded")
        finished(c, job)
        foreign = csrf(b.get("/"))
        paths = ["/documents"] + [
            f"/documents/{job}/{action}" for action in ("cancel", "revise", "regenerate", "delete")
        ]
        for path in paths:
            for token in (None, "", foreign):
                fields = {"type": "markdown", "input": "# no", "instructions": "no"}
                if token is not None:
                    fields["csrf"] = token
                r = post(c, path, **fields)
                assert r.status_code == 403 and "Form refused" in r.text, (path, token)
        page = c.get(f"/documents/{job}")
        assert page.status_code == 200 and "This is the only version" in page.text


def test_a_running_document_streams_its_progress_and_can_be_canceled(
    docs: tuple[Process, dict[str, str]], llm: str
) -> None:
    server, _ = docs
    _hang(llm)
    with person(server, "running@example.com") as c:
        job = made(c, input="A report that takes its time")
        waiting = made(c, input="Another one, queued behind it")  # one at a time on writer
        seen: list[dict[str, object]] = []
        with c.stream("GET", f"/documents/{job}/events", timeout=60) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            lines = stream.iter_lines()
            for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
                    if seen[-1]["stage"] == "generating":
                        break
            page = c.get(f"/documents/{job}")
            assert page.status_code == 200
            assert f'data-events="/documents/{job}/events"' in page.text
            assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page.text
            assert '<script src="/static/document.js" defer></script>' in page.text
            assert "Writing the document." in page.text
            assert re.search(r'<progress id="job-progress" max="100" value="\d+"', page.text)
            assert "iframe" not in page.text and "/revise" not in page.text
            # Deleting or revising what is still being made is refused; its PDF is not there.
            token = csrf(page)
            assert post(c, f"/documents/{job}/delete", csrf=token).status_code == 409
            assert c.get(f"/documents/{job}/pdf").status_code == 409
            r = post(c, f"/documents/{job}/revise", csrf=token, instructions="more")
            assert r.status_code == 409
            queued = c.get(f"/documents/{waiting}")
            assert "Waiting in the queue." in queued.text
            # Its place: next, unless another person's job is still waiting too.
            assert re.search(r"Yours is next in line\.|\d+ documents? (is|are) ahead", queued.text)
            canceled = post(c, f"/documents/{job}/cancel", csrf=token)
            assert (canceled.status_code, canceled.headers["location"]) == (
                303,
                f"/documents/{job}",
            )
            rest = [line for line in lines]  # the stream ends after the final status
        last = json.loads(
            [line for line in rest if line.startswith("data: ")][-1].removeprefix("data: ")
        )
        assert last["status"] == "canceled"
        assert seen[0]["id"] == job and {"status", "stage", "progress", "words"} <= set(seen[0])
        assert [e["stage"] for e in seen][-1] == "generating"
        assert any(line.startswith("event: job") for line in rest)
        page = c.get(f"/documents/{job}")
        assert "Canceled" in page.text and "data-events" not in page.text
        again = post(c, f"/documents/{job}/cancel", csrf=csrf(page))
        assert again.status_code == 409 and "already canceled" in again.text
        # The queued one: its stream gives its place, then its end.
        post(c, f"/documents/{waiting}/cancel", csrf=csrf(page))
        assert events(c, waiting)[-1]["status"] == "canceled"


def test_the_pdf_is_framed_by_this_site_only_and_downloads_as_an_attachment(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "inline@example.com") as c:
        job = made(c, type="markdown", input="# Framed", title="Framed")
        page = finished(c, job)
        assert page.headers["content-security-policy"] == CSP  # the page is not framed
        inline = _pdf_of(c, job)
        assert inline.headers["content-type"] == "application/pdf"
        assert inline.headers["content-disposition"].startswith("inline; filename=")
        assert inline.headers["content-security-policy"] == VIEWER_CSP
        assert inline.headers["x-content-type-options"] == "nosniff"
        download = c.get(f"/documents/{job}/pdf?download=1")
        assert download.status_code == 200 and download.content == inline.content
        assert download.headers["content-disposition"].startswith("attachment; filename=")
        assert "content-security-policy" not in download.headers
        part = c.get(f"/documents/{job}/pdf", headers={"Range": "bytes=0-4"})
        assert part.status_code == 206 and part.content == b"%PDF-"


def test_revise_lists_versions_and_regenerate_and_delete(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "versions@example.com") as c:
        first = made(c, type="markdown", input="# Garden plan\n\nTomatoes.")
        page = finished(c, first)
        token = csrf(page)
        empty = post(c, f"/documents/{first}/revise", csrf=token, instructions=" \r\n")
        assert empty.status_code == 400
        assert "the box is empty" in field_error(empty, "instructions")
        long = post(c, f"/documents/{first}/revise", csrf=token, instructions="w" * 301)
        assert long.status_code == 400 and "the limit is 300" in field_error(long, "instructions")
        assert "w" * 301 in long.text
        revised = post(c, f"/documents/{first}/revise", csrf=token, instructions="Add beans")
        assert revised.status_code == 303
        second = revised.headers["location"].removeprefix("/documents/")
        page = finished(c, second)
        assert '<dd class="doc-type">A description</dd>' in page.text
        assert '<h1 class="doc-title">Garden plan Tomatoes.</h1>' in page.text
        listed = re.findall(r"Version (\d): ([^<]*)<", page.text)
        assert listed == [("2", "revised: Add beans"), ("1", "Garden plan Tomatoes.")]
        assert '<span aria-current="page">Version 2: revised: Add beans</span>' in page.text
        assert f'<a href="/documents/{first}">Version 1: Garden plan Tomatoes.</a>' in page.text
        older = c.get(f"/documents/{first}")
        assert f'<a href="/documents/{second}">Version 2: revised: Add beans</a>' in older.text
        assert '<span aria-current="page">Version 1' in older.text

        # Made again: a new document with the same text and options, no parent.
        again = post(c, f"/documents/{first}/regenerate", csrf=token)
        assert again.status_code == 303
        third = again.headers["location"].removeprefix("/documents/")
        assert third not in (first, second)
        page = finished(c, third)
        assert "This is the only version" in page.text
        assert '<h1 class="doc-title">Garden plan Tomatoes.</h1>' in page.text
        # A revision made again is the same revision of the same version.
        redo = post(c, f"/documents/{second}/regenerate", csrf=token)
        fourth = redo.headers["location"].removeprefix("/documents/")
        page = finished(c, fourth)
        assert len(re.findall(r"Version \d: revised: Add beans", page.text)) == 2

        gone = post(c, f"/documents/{third}/delete", csrf=token)
        assert (gone.status_code, gone.headers["location"]) == (303, "/documents")
        assert c.get(f"/documents/{third}").status_code == 404
        assert c.get(f"/documents/{third}/pdf").status_code == 404
        assert post(c, f"/documents/{third}/delete", csrf=token).status_code == 404


def test_a_failed_document_says_why_and_can_be_retried(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    pages = "".join(f'<p style="break-after: page">Page {n}</p>' for n in range(1, 8))
    with person(server, "failed@example.com") as c:
        job = made(c, type="html", input=f"<html><body>{pages}</body></html>")
        page = finished(c, job)
        assert "This document could not be made" in page.text
        assert "The PDF has more pages than your plan allows." in page.text
        assert "Details: " in page.text and "iframe" not in page.text
        assert c.get(f"/documents/{job}/pdf").status_code == 409
        retry = post(c, f"/documents/{job}/regenerate", csrf=csrf(page))
        assert retry.status_code == 303
        again = retry.headers["location"].removeprefix("/documents/")
        assert again != job
        assert "could not be made" in finished(c, again).text


@pytest.mark.parametrize("suffix", ["", "/events"])
def test_signed_out_pages_send_to_sign_in(
    docs: tuple[Process, dict[str, str]], suffix: str
) -> None:
    server, _ = docs
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as c:
        path = f"/documents/0190d1a2-0000-7000-8000-000000000000{suffix}"
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
        assert c.post("/documents", data={"input": "x"}).status_code == 303

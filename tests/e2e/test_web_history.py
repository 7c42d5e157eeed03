"""The history page and its thumbnails over real HTTP against a real `pdfprompt serve`, on
SQLite and PostgreSQL: newest first, filters, a literal search, pages that follow each other
without duplicates or gaps, only the signed-in person's documents, hostile text shown as
text, hostile query strings answered with the page (never a 5xx), and each document's first
page served as a PNG to its owner only, with the placeholder for a file that has none."""

from __future__ import annotations

import asyncio
import html
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image
from sqlalchemy import update

from pdfprompt.db import create_engine, files
from pdfprompt.settings import Settings
from tests.support.jobs import wait_final
from tests.support.processes import Process, new_account
from tests.support.web import CSP, PASSWORD, assert_page_headers, client, sign_in

Service = tuple[Process, dict[str, str]]
DOC = re.compile(r'<li class="history-doc">(.*?)</li>', re.S)
PLACEHOLDER = (
    Path(__file__).resolve().parents[2] / "src/pdfprompt/web/static/thumbnail-placeholder.png"
).read_bytes()


Person = Callable[[str], tuple[httpx.Client, httpx.Client]]


@pytest.fixture
def person(service: Service) -> Iterator[Person]:
    """Makes a person (by the operator, with a password): their browser, signed in, and an
    API client with their key; closed at the end."""
    server, env = service
    made: list[httpx.Client] = []

    def make(email: str) -> tuple[httpx.Client, httpx.Client]:
        _, key = new_account(env, email, plan="enterprise", password=PASSWORD)
        browser = client(server)
        assert sign_in(browser, email).status_code == 303
        api = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        made.extend((browser, api))
        return browser, api

    yield make
    for c in made:
        c.close()


def _submit(api: httpx.Client, kind: str, body: str, **options: str) -> str:
    made = api.post("/v1/jobs", json={"type": kind, "input": body, "options": options})
    assert made.status_code == 202, made.text
    job_id: str = made.json()["id"]
    return job_id


def _listed(page: httpx.Response) -> list[tuple[str, str]]:
    """(id, title as the page shows it, unescaped) of each document on a history page."""
    found = []
    for block in DOC.findall(page.text):
        doc = re.search(r'href="/documents/([0-9a-f-]+)"', block)
        title = re.search(r'<span class="history-title">(.*?)</span>', block, re.S)
        assert doc is not None and title is not None, block
        found.append((doc.group(1), html.unescape(title.group(1))))
    return found


def _ids(c: httpx.Client, **query: str) -> list[str]:
    page = c.get("/documents", params=query)
    assert page.status_code == 200, page.text
    return [i for i, _ in _listed(page)]


def _older(page: httpx.Response) -> str | None:
    found = re.search(r'<a href="([^"]*)" rel="next">Older</a>', page.text)
    return html.unescape(found.group(1)) if found else None


def _walk(c: httpx.Client, **query: str) -> list[str]:
    """Every document of a search, following "Older" from the first page to the last."""
    path: str | None = "/documents" + ("?" + urlencode(query) if query else "")
    seen: list[str] = []
    for _ in range(20):
        assert path is not None
        page = c.get(path)
        assert page.status_code == 200, page.text
        listed = [i for i, _ in _listed(page)]
        assert 0 < len(listed) <= 24
        seen += listed
        path = _older(page)
        if path is None:
            return seen
    raise AssertionError("the pages did not end")


def test_the_history_lists_ones_own_documents_with_filters_search_and_thumbnails(
    service: Service, person: Person
) -> None:
    server, _ = service
    me, api = person("history@example.com")
    them, their_api = person("neighbour@example.com")
    with client(server) as anonymous:
        assert anonymous.get("/documents").headers["location"] == "/signin?next=/documents"
    empty = me.get("/documents")
    assert empty.status_code == 200 and "No documents yet" in empty.text
    assert empty.headers["content-security-policy"] == CSP
    assert_page_headers(empty)
    assert "<script>" not in empty.text and "style=" not in empty.text

    hostile = 'Alpha <script>alert(1)</script> "><img src=x onerror=alert(2)>'
    alpha = _submit(api, "markdown", "# Alpha\n\nThe first page.", title=hostile)
    page = _submit(api, "html", "<h1>Beta &amp; page</h1><p>50% off, snake_case</p>")
    quoted = _submit(api, "prompt", 'It\'s a "quoted" prompt about gamma rays')
    theirs = _submit(their_api, "markdown", "# Alpha of someone else")
    for job_id in (alpha, page, quoted):
        assert wait_final(api, job_id)[0]["status"] == "succeeded"
    assert wait_final(their_api, theirs)[0]["status"] == "succeeded"

    listing = me.get("/documents")
    assert listing.status_code == 200
    shown = _listed(listing)
    assert [i for i, _ in shown] == [quoted, page, alpha]
    assert dict(shown)[alpha] == hostile  # shown as text ...
    assert "<script>alert(1)" not in listing.text and "<img src=x" not in listing.text
    assert dict(shown)[page] == "Beta & page 50% off, snake_case"
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d', listing.text)
    assert '<script src="/static/time.js" defer></script>' in listing.text
    assert listing.text.count('class="history-pages">1 page</span>') == 3
    for job_id in (alpha, page, quoted):
        assert f'src="/documents/{job_id}/thumbnail"' in listing.text

    # Filters and a literal search.
    assert _ids(me, type="html") == [page]
    assert _ids(me, type="prompt", status="succeeded") == [quoted]
    assert _ids(me, status="failed") == []
    assert "No documents match" in me.get("/documents?status=failed").text
    assert _ids(me, q="ALPHA") == [alpha]  # never the neighbour's
    assert _ids(me, q="50%") == [page] and _ids(me, q="%") == [page]
    assert _ids(me, q="e_c") == [page] and _ids(me, q="_") == [page]
    assert _ids(me, q="it's") == [quoted] and _ids(me, q='"quoted"') == [quoted]
    assert _ids(me, q="<script>") == [alpha]
    assert _ids(me, q="' OR 1=1 --") == []
    searched = me.get("/documents", params={"q": '"><b>x</b>', "type": "html"})
    assert 'value="&#34;&gt;&lt;b&gt;x&lt;/b&gt;"' in searched.text
    assert '<option value="html" selected>' in searched.text
    assert [i for i, _ in _listed(them.get("/documents"))] == [theirs]

    # Thumbnails: the owner's PNG, cached and not sniffed; nobody else's. Drawn on the first
    # request (the worker stored only the PDF) and stored beside the PDF for the next one.
    [pdf] = _stored(service, alpha, ".pdf")
    png = pdf.with_suffix(".png")
    assert not png.exists()
    thumb = me.get(f"/documents/{alpha}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert thumb.headers["cache-control"] == "private, max-age=86400"
    image = Image.open(io.BytesIO(thumb.content))
    assert image.format == "PNG" and image.width == 200 and image.height > 200
    assert thumb.content != PLACEHOLDER
    assert png.read_bytes() == thumb.content
    # The second request reads what was stored (here another PNG put in its place): it does
    # not draw the page again.
    stand_in = io.BytesIO()
    Image.new("RGB", (20, 30), "white").save(stand_in, format="PNG")
    png.write_bytes(stand_in.getvalue())
    assert me.get(f"/documents/{alpha}/thumbnail").content == stand_in.getvalue()
    again = me.get(
        f"/documents/{alpha}/thumbnail", headers={"If-None-Match": thumb.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content
    refused = them.get(f"/documents/{alpha}/thumbnail")
    assert refused.status_code == 404 and "text/html" in refused.headers["content-type"]
    assert "not yours to see" in refused.text
    for bad in ("nope", "%00", "..%2f..%2fetc", "a" * 500):
        answer = me.get(f"/documents/{bad}/thumbnail")
        assert answer.status_code == 404, (bad, answer.status_code)
    with client(server) as anonymous:
        assert anonymous.get(f"/documents/{alpha}/thumbnail").status_code == 303


def test_pages_follow_each_other_without_duplicates_or_gaps(person: Person) -> None:
    me, api = person("pager@example.com")
    _, other_api = person("pager-neighbour@example.com")
    made = []
    for i in range(30):
        kind = "markdown" if i % 2 else "html"
        made.append(_submit(api, kind, f"<p>Invoice number {i}</p>"))
        if i % 10 == 0:
            _submit(other_api, kind, f"<p>Invoice number {i}</p>")
    first = me.get("/documents")
    assert len(_listed(first)) == 24 and "Newest" not in first.text
    second = me.get(_older(first) or "")
    assert 'href="/documents">Newest</a>' in second.text and _older(second) is None
    assert _walk(me) == list(reversed(made))
    html_ones = [m for i, m in enumerate(made) if i % 2 == 0]
    assert _walk(me, type="html") == list(reversed(html_ones))
    ones = [m for i, m in enumerate(made) if str(i).startswith("1")]
    assert _walk(me, q="number 1") == list(reversed(ones))
    # The filters stay on the "Older" link.
    older = _older(me.get("/documents", params={"q": "invoice", "type": "html"}))
    assert older is None  # 15 fit on one page
    older = _older(me.get("/documents", params={"q": "invoice"}))
    assert older is not None and "q=invoice" in older and "cursor=" in older


def test_hostile_query_strings_get_the_page_with_the_error_by_its_field(
    service: Service, person: Person
) -> None:
    server, _ = service
    me, _ = person("hostile-query@example.com")
    cases = [
        ({"q": "x" * 201}, "q", "at most 200 characters"),
        ({"status": "<script>"}, "status", "Choose a status"),
        ({"status": "SUCCEEDED"}, "status", "Choose a status"),
        ({"type": "pdf' OR 1=1"}, "type", "Choose a type"),
        ({"cursor": "../../etc"}, "cursor", "not one of ours"),
        ({"cursor": "f" * 37}, "cursor", "not one of ours"),
    ]
    for query, field, words in cases:
        answer = me.get("/documents", params=query)
        assert answer.status_code == 422, (query, answer.status_code)
        assert words in answer.text, query
        if field != "cursor":
            assert f'id="{field}-error"' in answer.text
            assert f'aria-describedby="{field}-error"' in answer.text
        assert "<script>" not in answer.text.replace('<script src="/static/time.js"', "")
    # A control character is refused before any route, by the server's request guard (422
    # naming the parameter, as the API answers it).
    for control in ("a\x00b", "a\x1bb"):
        answer = me.get("/documents", params={"q": control})
        assert answer.status_code == 422 and "query.q" in answer.text
    assert me.get("/documents", params={"q": "é" * 200}).status_code == 200
    assert me.get("/documents", params={"q": "  "}).status_code == 200
    assert me.get("/documents?status=&type=&q=&cursor=").status_code == 200
    assert me.get("/documents", params={"cursor": "0"}).status_code == 200
    assert "Traceback" not in server.log()


def test_a_file_without_a_thumbnail_shows_the_placeholder_and_deleting_removes_it(
    service: Service, person: Person
) -> None:
    """A file made before thumbnails were (its row has none) and one whose PDF and thumbnail
    are gone from storage (a retention pass under way) get the placeholder, and nothing is
    stored for them; deleting a document removes its thumbnail."""
    _, env = service
    me, api = person("placeholder@example.com")
    old = _submit(api, "markdown", "# Made before thumbnails")
    gone = _submit(api, "markdown", "# Thumbnail gone from storage")
    kept = _submit(api, "markdown", "# Deleted later")
    for job_id in (old, gone, kept):
        assert wait_final(api, job_id)[0]["status"] == "succeeded"
    stored = Path(env["PDFPROMPT_DATA_DIR"]) / "files"

    def thumbnail_of(job_id: str) -> Path:
        [found] = stored.rglob(f"*{job_id}-*.png")
        return found

    _forget_thumbnail(env, old)
    [gone_pdf] = _stored(service, gone, ".pdf")
    gone_pdf.unlink()
    listing = me.get("/documents").text
    assert f'src="/documents/{old}/thumbnail"' not in listing
    assert 'src="/static/thumbnail-placeholder.png"' in listing
    assert f'src="/documents/{gone}/thumbnail"' in listing
    for job_id in (old, gone):
        answer = me.get(f"/documents/{job_id}/thumbnail")
        assert answer.status_code == 200 and answer.content == PLACEHOLDER
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["cache-control"] == "private, no-cache"
    assert not _stored(service, old, ".png") and not _stored(service, gone, ".png")
    static = me.get("/static/thumbnail-placeholder.png")
    assert static.status_code == 200 and static.content == PLACEHOLDER

    assert me.get(f"/documents/{kept}/thumbnail").status_code == 200
    png = thumbnail_of(kept)
    assert png.exists()
    assert api.delete(f"/v1/jobs/{kept}").status_code == 204
    assert not png.exists() and not list(stored.rglob(f"*{kept}-*"))
    assert me.get(f"/documents/{kept}/thumbnail").status_code == 404
    assert kept not in _ids(me)


def _stored(service: Service, job_id: str, suffix: str) -> list[Path]:
    """The job's files of that kind in the service's storage."""
    return list((Path(service[1]["PDFPROMPT_DATA_DIR"]) / "files").rglob(f"*{job_id}-*{suffix}"))


def _forget_thumbnail(env: dict[str, str], job_id: str) -> None:
    """Make the job's file one made before thumbnails were: its row names none."""

    async def forget() -> None:
        settings = Settings(database_url=env["DATABASE_URL"], data_dir=env["PDFPROMPT_DATA_DIR"])
        engine = create_engine(settings)
        try:
            async with engine.begin() as conn:
                done = await conn.execute(
                    update(files).where(files.c.job_id == job_id).values(thumbnail_key=None)
                )
                assert done.rowcount == 1
        finally:
            await engine.dispose()

    asyncio.run(forget())

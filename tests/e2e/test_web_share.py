"""Sharing from the pages, over real HTTP against `pdfprompt serve` on SQLite and
PostgreSQL: the owner's page makes, lists and revokes links; a link opened by a browser is
a public page with a viewer and a download, the same link fetched by a program is the PDF
as before; only fetches that send the PDF count as downloads; used-up, revoked and unknown
links are pages for browsers; other people's documents, forged forms and hostile input."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdfprompt.db import create_engine, jobs
from pdfprompt.settings import Settings
from tests.support.accounts import fresh_rate_window
from tests.support.people import People, finished
from tests.support.processes import Process, serving
from tests.support.web import CSP, VIEWER_CSP, assert_page_headers, client, csrf, post

pytestmark = pytest.mark.one_database("sqlite")

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOSTILE_TITLE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


@pytest.fixture
def person(service: tuple[Process, dict[str, str]]) -> Iterator[People]:
    people = People(*service)
    yield people
    people.close()


def make_link(web: httpx.Client, job_id: str, **fields: str) -> httpx.Response:
    form = web.get(f"/documents/{job_id}/share")
    assert form.status_code == 200, form.text
    return post(web, f"/documents/{job_id}/share", csrf=csrf(form), **fields)


def link_in(page: httpx.Response) -> str:
    found = re.search(r'id="link" type="text" readonly value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def downloads(api: httpx.Client, job: dict[str, Any]) -> list[int]:
    """The downloads of each of the document's links, newest first, as the API counts them."""
    items = api.get(f"/v1/files/{job['file']['id']}/shares").json()["items"]
    return [int(item["downloads"]) for item in items]


def test_a_link_is_a_page_for_browsers_and_the_pdf_for_programs(person: People) -> None:
    server = person.server
    web, api = person("sharer@example.com")
    job = finished(api, HOSTILE_TITLE)
    made = make_link(web, job["id"], expires_in_s="3600", max_downloads="")
    assert made.status_code == 200
    assert_page_headers(made)
    link = link_in(made)
    token = link.rsplit("/", 1)[1]
    assert link == f"{server.base_url}/s/{token}" and len(token) >= 32
    # The Copy button waits for its script; the link is plain, selectable text without it.
    assert 'data-copy="link" hidden' in made.text and "/static/copy.js" in made.text
    listed = web.get(f"/documents/{job['id']}/share")
    assert token not in listed.text  # shown once
    assert "Active" in listed.text and "1 hour" in listed.text

    with httpx.Client(timeout=30) as stranger:  # no session, no key
        page = stranger.get(link, headers=BROWSER)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-robots-tag"] == "noindex"
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert f'<iframe class="viewer" src="/s/{token}/pdf"' in page.text
        assert f'href="/s/{token}/pdf?download=1"' in page.text
        assert 'action="/signout"' not in page.text  # no nav: nobody is signed in
        assert "pdfprompt_session" not in stranger.cookies
        assert downloads(api, job) == [0]  # a page is no download

        pdf = api.get(f"/v1/jobs/{job['id']}/pdf").content
        program = stranger.get(link)  # httpx's Accept: */*
        assert program.status_code == 200
        assert program.headers["content-type"] == "application/pdf"
        assert program.headers["content-disposition"].startswith("attachment;")
        assert program.content == pdf
        assert downloads(api, job) == [1]
        asked = stranger.get(link, headers={"Accept": "application/pdf, text/html;q=0.5"})
        assert asked.headers["content-type"] == "application/pdf"
        assert downloads(api, job) == [2]

        viewer = stranger.get(f"{link}/pdf")
        assert viewer.status_code == 200 and viewer.content == pdf
        assert viewer.headers["content-disposition"].startswith("inline;")
        assert viewer.headers["content-security-policy"] == VIEWER_CSP
        assert viewer.headers["cache-control"] == "no-store"
        download = stranger.get(f"{link}/pdf?download=1")
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.content == pdf
        # A conditional fetch that sends nothing is no download either.
        etag = download.headers["etag"]
        assert stranger.get(f"{link}/pdf", headers={"If-None-Match": etag}).status_code == 304
        assert downloads(api, job) == [4]
    shown = web.get(f"/documents/{job['id']}/share")
    assert re.search(r'class="downloads"[^>]*>4<', shown.text), shown.text
    # The API's document is unchanged: `/s/{token}` is still only the API's download.
    spec = httpx.get(f"{server.base_url}/openapi.json").json()
    assert set(spec["paths"]["/s/{token}"]) == {"get"}
    assert not [p for p in spec["paths"] if p.startswith(("/s/{token}/", "/documents"))]


def test_used_up_revoked_and_unknown_links_are_pages_for_browsers(person: People) -> None:
    server = person.server
    web, api = person("gone@example.com")
    job = finished(api)
    once = link_in(make_link(web, job["id"], expires_in_s="86400", max_downloads="1"))
    with httpx.Client(timeout=30) as stranger:
        assert stranger.get(once, headers=BROWSER).status_code == 200
        assert stranger.get(once, headers=BROWSER).status_code == 200  # views are free
        assert stranger.get(f"{once}/pdf").status_code == 200  # the viewer takes the one
        used = stranger.get(once, headers=BROWSER)
        assert used.status_code == 410 and used.headers["content-type"].startswith("text/html")
        assert "<h1>This link no longer works</h1>" in used.text and "used up" in used.text
        assert used.headers["content-security-policy"] == CSP
        for raw in (f"{once}/pdf", f"{once}/pdf?download=1"):
            refused = stranger.get(raw)
            assert refused.status_code == 410 and "text/html" in refused.headers["content-type"]
        program = stranger.get(once)
        assert program.status_code == 410 and program.json()["code"] == "gone"
        assert downloads(api, job) == [1]
        listed = web.get(f"/documents/{job['id']}/share")
        assert "Used up" in listed.text and re.search(
            r'class="downloads"[^>]*>1 of 1<', listed.text
        )

        kept = make_link(web, job["id"], expires_in_s="86400")
        link = link_in(kept)
        assert stranger.get(link, headers=BROWSER).status_code == 200
        page = web.get(f"/documents/{job['id']}/share")
        revoke = re.search(r'action="(/documents/[^"]+/revoke)"', page.text)
        assert revoke is not None
        done = post(web, revoke.group(1), csrf=csrf(page))
        assert (done.status_code, done.headers["location"]) == (
            303,
            f"/documents/{job['id']}/share",
        )
        assert "Revoked" in web.get(f"/documents/{job['id']}/share").text
        revoked = stranger.get(link, headers=BROWSER)
        assert revoked.status_code == 410 and "This link no longer works" in revoked.text
        assert stranger.get(link).status_code == 410

        unknown = stranger.get(f"{server.base_url}/s/{'x' * 32}", headers=BROWSER)
        assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]
        assert "<h1>No such link</h1>" in unknown.text
        assert stranger.get(f"{server.base_url}/s/{'x' * 32}").json()["code"] == "not_found"
        long = stranger.get(f"{server.base_url}/s/{'x' * 5000}", headers=BROWSER)
        assert long.status_code == 404


def _unfinish(env: dict[str, str], job_id: str) -> None:
    """Make the job one without a PDF, as a failed job is."""

    async def write() -> int:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.begin() as conn:
                done = await conn.execute(
                    update(jobs).where(jobs.c.id == job_id).values(status="failed", file_id=None)
                )
                return done.rowcount
        finally:
            await engine.dispose()

    assert asyncio.run(write()) == 1


def test_other_peoples_documents_are_not_found_and_unfinished_ones_conflict(
    person: People,
) -> None:
    server, env = person.server, person.env
    owner, owner_api = person("owner@example.com")
    other, _ = person("other@example.com")
    job = finished(owner_api)
    link = link_in(make_link(owner, job["id"], expires_in_s="3600"))
    theirs = other.get(f"/documents/{job['id']}/share")
    assert theirs.status_code == 404 and "There is nothing here" in theirs.text
    assert_page_headers(theirs)
    token = csrf(other.get("/account"))
    refused = post(other, f"/documents/{job['id']}/share", csrf=token, expires_in_s="3600")
    assert refused.status_code == 404
    page = owner.get(f"/documents/{job['id']}/share")
    share_id = re.search(r'data-id="([^"]+)"', page.text)
    assert share_id is not None
    path = f"/documents/{job['id']}/share/{share_id.group(1)}/revoke"
    assert post(other, path, csrf=token).status_code == 404
    assert httpx.get(link, timeout=30).status_code == 200  # still the owner's, still working
    assert owner.get("/documents/nope/share").status_code == 404
    assert owner.get(f"/documents/{'x' * 300}/share").status_code == 404
    with client(server) as nobody:
        away = nobody.get(f"/documents/{job['id']}/share")
        assert away.status_code == 303
        assert away.headers["location"] == f"/signin?next=/documents/{job['id']}/share"

    second = finished(owner_api)
    _unfinish(env, second["id"])
    conflict = owner.get(f"/documents/{second['id']}/share")
    assert conflict.status_code == 409 and "no PDF to share" in conflict.text
    made = post(owner, f"/documents/{second['id']}/share", csrf=csrf(conflict))
    assert made.status_code == 409


def test_forged_forms_and_hostile_fields_are_refused(person: People) -> None:
    web, api = person("starter-sharer@example.com", plan="starter")
    job = finished(api)
    form = web.get(f"/documents/{job['id']}/share")
    # The starter plan keeps files 30 days: no link is offered for longer.
    assert 'value="2592000"' in form.text and 'value="7776000"' not in form.text
    path = f"/documents/{job['id']}/share"
    for token in (None, "", "0" * 64):
        fields = (
            {"expires_in_s": "3600"} if token is None else {"expires_in_s": "3600", "csrf": token}
        )
        forged = post(web, path, **fields)
        assert forged.status_code == 403 and "Form refused" in forged.text
    assert downloads(api, job) == []  # no link was made
    token = csrf(form)

    def refused(field: str, **fields: str) -> str:
        answer = post(web, path, csrf=token, **fields)
        assert answer.status_code == 400, answer.text
        found = re.search(rf'id="{field}-error">([^<]*)<', answer.text)
        assert found is not None, answer.text
        return found.group(1)

    assert "whole number" in refused("max_downloads", expires_in_s="3600", max_downloads="abc")
    assert "1 to 1000000" in refused("max_downloads", expires_in_s="3600", max_downloads="0")
    assert refused("max_downloads", expires_in_s="3600", max_downloads="1" * 30)
    assert refused("expires_in_s", expires_in_s="5")
    assert refused("expires_in_s", expires_in_s="-1")
    assert "plan allows no longer" in refused("expires_in_s", expires_in_s="7776000")
    echoed = post(web, path, csrf=token, expires_in_s="3600", max_downloads='"><script>x')
    assert echoed.status_code == 400
    assert "<script>x" not in echoed.text and "&#34;&gt;&lt;script&gt;x" in echoed.text
    assert downloads(api, job) == []
    bad = web.post(path, content=b"csrf=" + b"a" * 20_000, headers={"Content-Type": "text/plain"})
    assert bad.status_code in (400, 413)
    # Revoking needs the form's token too.
    link = link_in(make_link(web, job["id"], expires_in_s="3600"))
    page = web.get(path)
    revoke = re.search(r'action="(/documents/[^"]+/revoke)"', page.text)
    assert revoke is not None
    assert post(web, revoke.group(1)).status_code == 403
    assert httpx.get(link, timeout=30).status_code == 200


@pytest.mark.parametrize("database", ["sqlite"])
def test_the_page_and_its_pdf_count_against_the_share_rate_limit(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    extra = {"PDFPROMPT_SHARE_RATE_LIMIT_PER_MINUTE": "3"}
    with serving(request, tmp_path, database, **extra) as (server, env):
        people = People(server, env)
        request.addfinalizer(people.close)
        web, api = people("limited@example.com")
        link = link_in(make_link(web, finished(api)["id"], expires_in_s="3600"))
        fresh_rate_window()
        with httpx.Client(timeout=30) as stranger:
            assert stranger.get(link, headers=BROWSER).status_code == 200
            assert stranger.get(f"{link}/pdf").status_code == 200
            assert stranger.get(link).status_code == 200
            held = stranger.get(link, headers=BROWSER)
            assert held.status_code == 429 and "text/html" in held.headers["content-type"]
            assert int(held.headers["retry-after"]) >= 1
            assert stranger.get(link).json()["code"] == "rate_limited"
            assert stranger.get(f"{link}/pdf").status_code == 429

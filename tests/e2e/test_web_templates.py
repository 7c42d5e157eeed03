"""The templates pages over real HTTP, as a browser without JavaScript uses them, against
`pdfprompt serve` on SQLite and PostgreSQL: the list, saving (each save a new version),
errors next to their fields (JSON, body syntax with its line, the schema, a sample that
does not fit), the preview into its frame (the PDF of the edit, not saved, no quota; its
refusals as a page the editor may frame), versions, a document filled from the template,
deleting, CSRF, and another person's template; and the assets page: uploading (refusals
next to the file or the name), thumbnails served with the API's content headers, the
references, deleting."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile

import httpx
import pytest

from tests.support.assets import font, png
from tests.support.documents import documents_fixtures, events, field_error, person
from tests.support.llm import control
from tests.support.processes import Process
from tests.support.render import pdf_text
from tests.support.web import CSP, assert_page_headers, csrf, post

pytestmark = pytest.mark.one_database("sqlite")

llm, docs = documents_fixtures("web-templates")

BODY = "<h1>Hello {{ name }}</h1><p>{{ note }}</p>"
SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "maxLength": 40}, "note": {"type": "string"}},
}
SAMPLE = {"name": "Ada", "note": "sample"}
RED = (214, 31, 47)
TEAL = (16, 160, 150)
FRAMED_CSP = "default-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"


@pytest.fixture(autouse=True)
def answering(llm: str) -> None:
    control(llm, reset=True, latency_ms=0, chunk_ms=0)


def _fields(**given: str) -> dict[str, str]:
    fields = {
        "name": "greeting",
        "engine": "html",
        "body": BODY,
        "schema": json.dumps(SCHEMA),
        "sample_data": json.dumps(SAMPLE),
        "format": "",
        "orientation": "portrait",
        "data": "",
    }
    fields.update(given)
    return fields


def _save(c: httpx.Client, path: str = "/templates", **given: str) -> httpx.Response:
    token = csrf(c.get("/templates/new"))
    return post(c, path, csrf=token, **_fields(**given))


def _made(c: httpx.Client, **given: str) -> str:
    r = _save(c, **given)
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/templates/(tpl_[A-Za-z0-9_-]+)\?saved=1", r.headers["location"])
    assert found is not None, r.headers["location"]
    return found.group(1)


def _textarea(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<textarea id="{name}"[^>]*>\n([^<]*)</textarea>', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def test_a_template_is_made_listed_saved_again_and_deleted(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with httpx.Client(base_url=server.base_url) as anonymous:
        first = anonymous.get("/templates", follow_redirects=False)
        assert (first.status_code, first.headers["location"]) == (303, "/signin?next=/templates")
    with person(server, "tpl-make@example.com") as c:
        empty = c.get("/templates")
        assert empty.status_code == 200 and "No templates yet." in empty.text
        assert empty.headers["content-security-policy"] == CSP
        assert_page_headers(empty)
        assert '<a href="/templates">Templates</a>' in empty.text  # in the nav
        editor = c.get("/templates/new")
        assert editor.status_code == 200
        assert (
            '<script src="/static/preview.js" defer></script>'
            '<script src="/static/template.js" defer></script>'
        ) in editor.text
        assert "<script>" not in editor.text and "style=" not in editor.text
        assert 'formaction="/templates/preview" formtarget="preview"' in editor.text
        assert '<iframe name="preview"' in editor.text
        for path in ("/static/preview.js", "/static/template.js"):
            js = c.get(path)
            assert js.status_code == 200 and "javascript" in js.headers["content-type"]

        template_id = _made(c, format="A5", orientation="landscape", margin_top="10mm")
        page = c.get(f"/templates/{template_id}?saved=1")
        assert "Saved as version 1." in page.text
        assert _textarea(page, "body") == BODY
        assert json.loads(_textarea(page, "schema")) == SCHEMA
        assert json.loads(_textarea(page, "sample_data")) == SAMPLE
        assert json.loads(_textarea(page, "data")) == SAMPLE  # "try with data" starts as the sample
        assert '<option value="A5" selected>' in page.text
        assert 'id="landscape" name="orientation" value="landscape" checked' in page.text
        assert 'id="margin_top" name="margin_top" value="10mm"' in page.text

        listed = c.get("/templates")
        row = re.search(
            r'<tr class="template-row" data-id="' + template_id + r'">(.*?)</tr>', listed.text, re.S
        )
        assert row is not None, listed.text
        assert ">greeting</a>" in row.group(1) and "HTML" in row.group(1)
        assert '<td data-label="Version">1</td>' in row.group(1)

        token = csrf(page)
        again = post(c, f"/templates/{template_id}", csrf=token, **_fields(body=BODY + "<p>v2</p>"))
        assert again.status_code == 303
        second = c.get(f"/templates/{template_id}")
        assert _textarea(second, "body") == BODY + "<p>v2</p>"
        assert f'href="/templates/{template_id}?version=1">Use version 1</a>' in second.text
        assert '<span aria-current="page">Version 2</span>' in second.text
        first_again = c.get(f"/templates/{template_id}?version=1")
        assert _textarea(first_again, "body") == BODY
        assert "saving this one makes version 3" in first_again.text
        for odd in ("0", "99", "x", "9" * 40, "%C2%B2"):
            assert c.get(f"/templates/{template_id}?version={odd}").status_code in (200, 404)

        # The same name twice: refused next to the name, the values kept.
        taken = _save(c, body="<p>other</p>")
        assert taken.status_code == 409
        assert field_error(taken, "name")
        assert _textarea(taken, "body") == "<p>other</p>"

        refused = c.post(f"/templates/{template_id}/delete", data={"csrf": "wrong"})
        assert refused.status_code == 403
        gone = post(c, f"/templates/{template_id}/delete", csrf=token)
        assert (gone.status_code, gone.headers["location"]) == (303, "/templates")
        assert c.get(f"/templates/{template_id}").status_code == 404
        assert "No templates yet." in c.get("/templates").text


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"body": "<p>{% if x %}open</p>"}, "body", "Line 1"),
        ({"body": "<p>ok</p>\n<p>{{ broken }</p>"}, "body", "Line 2"),
        ({"body": "   "}, "body", "empty"),
        ({"schema": "{not json"}, "schema", "line 1"),
        ({"schema": '{"type": "no-such-type"}'}, "schema", ""),
        ({"sample_data": "[1,"}, "sample_data", "not JSON"),
        ({"sample_data": json.dumps({"note": "no name"})}, "sample_data", "name"),
        ({"sample_data": json.dumps({"name": 7})}, "sample_data", "at /name: 7"),
        ({"name": ""}, "name", ""),
        ({"engine": "latex"}, "engine", "HTML or Markdown"),
        ({"format": "A99"}, "format", ""),
        ({"margin_left": "wide"}, "margin_left", ""),
        ({"orientation": "sideways"}, "orientation", ""),
    ],
)
def test_errors_appear_next_to_their_fields_with_the_values_kept(
    docs: tuple[Process, dict[str, str]], given: dict[str, str], field: str, words: str
) -> None:
    server, _ = docs
    with person(server, f"tpl-err-{field}-{abs(hash(str(given)))}@example.com") as c:
        r = _save(c, **given)
        assert r.status_code == 400, r.text
        error = field_error(r, field)
        assert words in error, error
        assert len(re.findall(r'<p class="error" id="[^"]+-error">', r.text)) == 1
        if "body" in given and given["body"].strip():
            assert _textarea(r, "body") == given["body"]
        assert c.get("/templates").text.count('class="template-row"') == 0


def test_the_preview_prints_the_edit_without_saving_it_or_using_the_quota(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "tpl-preview@example.com") as c:
        token = csrf(c.get("/templates/new"))
        usage_before = c.get("/usage").text
        shown = post(c, "/templates/preview", csrf=token, **_fields(name="draft"))
        assert shown.status_code == 200, shown.text
        assert shown.headers["content-type"] == "application/pdf"
        assert shown.headers["content-security-policy"] == "frame-ancestors 'self'"
        assert shown.headers["x-content-type-options"] == "nosniff"
        text = pdf_text(shown.content)
        assert "Hello Ada" in text and "PREVIEW" in text
        tried = post(
            c,
            "/templates/preview",
            csrf=token,
            **_fields(data=json.dumps({"name": "<b>Grace</b>"})),
        )
        assert "Hello <b>Grace</b>" in pdf_text(tried.content)  # escaped: shown as text
        unnamed = post(c, "/templates/preview", csrf=token, **_fields(name=""))
        assert unnamed.status_code == 200  # a new template is previewed before it is named
        assert "No templates yet." in c.get("/templates").text  # nothing saved
        assert c.get("/usage").text == usage_before  # no PDF counted

        # Refusals: a page the editor's frame may show, naming the field.
        for given, field, status in (
            ({"body": "{% for %}"}, "body", 400),
            ({"data": json.dumps({"name": 1})}, "data", 400),
            ({"data": "{"}, "data", 400),
            ({"body": "{{ 1 / 0 }}"}, "body", 422),
        ):
            r = post(c, "/templates/preview", csrf=token, **_fields(**given))
            assert r.status_code == status, (given, r.text)
            assert r.headers["content-security-policy"] == FRAMED_CSP
            assert f'data-preview-error="{field}"' in r.text, r.text
        assert c.post("/templates/preview", data=_fields()).status_code == 403


def test_a_document_from_the_template_and_another_persons_template(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "tpl-owner@example.com") as c:
        template_id = _made(c)
        page = c.get(f"/templates/{template_id}")
        token = csrf(page)
        action = f"/templates/{template_id}/documents?version=1"
        assert f'formaction="{action}"' in page.text
        bad = post(c, action, csrf=token, data=json.dumps({"note": "x"}))
        assert bad.status_code == 400
        assert "name" in field_error(bad, "data")
        odd = post(c, action, csrf=token, data="[")
        assert "not JSON" in field_error(odd, "data")
        made = post(c, action, csrf=token, data=json.dumps({"name": "Lin", "note": "real"}))
        assert made.status_code == 303, made.text
        job_id = made.headers["location"].removeprefix("/documents/")
        assert events(c, job_id)[-1]["status"] == "succeeded"
        pdf = c.get(f"/documents/{job_id}/pdf")
        text = pdf_text(pdf.content)
        assert "Hello Lin" in text and "PREVIEW" not in text
        with person(server, "tpl-stranger@example.com") as other:
            mine = csrf(other.get("/templates"))
            for path in (f"/templates/{template_id}", f"/templates/{template_id}?version=1"):
                r = other.get(path)
                assert r.status_code == 404 and "not yours to see" in r.text
            for path in (
                f"/templates/{template_id}",
                f"/templates/{template_id}/delete",
                f"/templates/{template_id}/documents",
            ):
                r = post(other, path, csrf=mine, **_fields(data="{}"))
                assert r.status_code == 404, (path, r.text)
            assert "tpl-owner" not in other.get("/templates").text
        assert c.get(f"/templates/{template_id}").status_code == 200  # still there


# -- assets ---------------------------------------------------------------------


def _upload(
    c: httpx.Client, filename: str, data: bytes, name: str = "", token: str | None = None
) -> httpx.Response:
    if token is None:
        token = csrf(c.get("/assets"))
    r = c.post(
        "/assets",
        data={"csrf": token, "name": name},
        files={"file": (filename, data, "application/octet-stream")},
    )
    assert r.status_code < 500, r.text
    return r


def test_assets_are_uploaded_shown_referred_to_and_deleted(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "assets@example.com") as c:
        empty = c.get("/assets")
        assert empty.status_code == 200 and "No assets yet." in empty.text
        assert empty.headers["content-security-policy"] == CSP
        assert '<a href="/assets">Assets</a>' in empty.text
        assert 'enctype="multipart/form-data"' in empty.text
        assert '<script src="/static/copy.js" defer></script>' in empty.text

        made = _upload(c, "logo.png", png(RED))
        assert (made.status_code, made.headers["location"]) == (303, "/assets")
        assert _upload(c, "face.ttf", font("Face"), name="brand-font").status_code == 303
        listed = c.get("/assets")
        rows = re.findall(
            r'<li class="asset-row card" data-id="([^"]+)">(.*?)</li>', listed.text, re.S
        )
        assert len(rows) == 2
        by_name = {re.search(r'<p class="name">([^<]+)</p>', r).group(1): (i, r) for i, r in rows}  # type: ignore[union-attr]
        logo_id, logo_row = by_name["logo.png"]
        assert f'<img src="/assets/{logo_id}/content"' in logo_row
        assert 'value="asset:logo.png"' in logo_row and "data-copy=" in logo_row
        assert "Image · image/png" in logo_row
        _, font_row = by_name["brand-font"]
        assert "<img" not in font_row and "Font ·" in font_row
        assert 'value="asset:brand-font"' in font_row

        shown = c.get(f"/assets/{logo_id}/content")
        assert shown.status_code == 200 and shown.content == png(RED)
        assert shown.headers["content-type"] == "image/png"
        assert shown.headers["x-content-type-options"] == "nosniff"
        assert shown.headers["content-security-policy"].startswith("sandbox; default-src 'none'")

        # Refusals next to their field, nothing kept.
        token = csrf(listed)
        for filename, data, name, field, words in (
            ("notes.bin", b"\x00\x01 not text", "", "file", "PNG"),
            ("half.png", png(RED)[:40], "", "file", ""),
            ("other.png", png(TEAL), "bad name!", "name", ""),
            ("logo.png", png(TEAL), "", "name", ""),  # the name is taken
        ):
            r = _upload(c, filename, data, name, token)
            assert r.status_code in (400, 409, 413), r.text
            assert words in field_error(r, field), (filename, field_error(r, field))
            assert f'value="{html.escape(name)}"' in r.text  # the name typed is kept
        missing = c.post("/assets", data={"csrf": token}, files={"file": ("", b"", "x/y")})
        assert missing.status_code == 400 and field_error(missing, "file")
        shown = re.search(r"at most ([0-9.]+) MB", listed.text)  # the plan's limit, in words
        assert shown is not None
        limit = round(float(shown.group(1)) * 1024 * 1024)
        big = _upload(c, "big.png", b"\x89PNG" + b"\0" * limit, token=token)
        assert big.status_code == 413 and "larger than" in field_error(big, "file")
        bigger = _upload(c, "big.png", b"\x89PNG" + b"\0" * (limit + 64 * 1024), token=token)
        assert bigger.status_code == 413 and "larger than" in field_error(bigger, "file")
        wrong = c.post("/assets", data={"csrf": "wrong"}, files={"file": ("a.png", png(RED))})
        assert wrong.status_code == 403
        assert c.get("/assets").text.count('class="asset-row card"') == 2

        with person(server, "assets-stranger@example.com") as other:
            mine = csrf(other.get("/assets"))
            assert other.get(f"/assets/{logo_id}/content").status_code == 404
            assert post(other, f"/assets/{logo_id}/delete", csrf=mine).status_code == 404
            assert "No assets yet." in other.get("/assets").text

        assert post(c, f"/assets/{logo_id}/delete", csrf="wrong").status_code == 403
        gone = post(c, f"/assets/{logo_id}/delete", csrf=token)
        assert (gone.status_code, gone.headers["location"]) == (303, "/assets")
        assert c.get(f"/assets/{logo_id}/content").status_code == 404
        assert c.get("/assets").text.count('class="asset-row card"') == 1


# -- batches --------------------------------------------------------------------


def _api_key(c: httpx.Client) -> str:
    """A key made on the keys page (shown once), for the API."""
    token = csrf(c.get("/keys"))
    scopes = {f"scope.{s}": "on" for s in ("jobs:write", "jobs:read", "files:read")}
    made = post(c, "/keys", csrf=token, name="batches", **scopes)
    found = re.search(r'id="new-key" type="text" readonly value="([^"]+)"', made.text)
    assert found is not None, made.text
    return found.group(1)


def test_a_batch_page_shows_its_progress_downloads_and_is_anothers_404(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "batches@example.com") as c:
        assert "No batches yet." in c.get("/batches").text
        assert '<a href="/batches">Batches</a>' in c.get("/batches").text
        template_id = _made(c, name="rows")
        key = _api_key(c)
        rows = [{"name": f"Row {n}", "note": "batch"} for n in range(3)]
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            made = api.post("/v1/batches", json={"template": template_id, "items": rows})
            assert made.status_code == 202, made.text
            batch_id = made.json()["id"]

        listed = c.get("/batches")
        assert f'<a href="/batches/{batch_id}">{batch_id}</a>' in listed.text
        page = c.get(f"/batches/{batch_id}")
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        assert "of 3 done." in page.text
        # The page's stream: one event per change, the last one final, then it ends.
        seen = []
        with c.stream("GET", f"/batches/{batch_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
        assert seen and seen[-1]["final"] and seen[-1]["done"] == 3, seen
        assert seen[-1]["counts"]["succeeded"] == 3 and seen[-1]["percent"] == 100

        done = c.get(f"/batches/{batch_id}")
        assert "Complete: 3 of 3 done." in done.text
        assert "data-batch-events" not in done.text and "http-equiv" not in done.text
        assert f'href="/batches/{batch_id}/archive"' in done.text
        archive = c.get(f"/batches/{batch_id}/archive")
        assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
            assert len(z.namelist()) == 3
        merged = c.get(f"/batches/{batch_id}/merged")
        assert merged.status_code == 200 and merged.content.startswith(b"%PDF-")
        text = pdf_text(merged.content)
        assert all(f"Hello Row {n}" in text for n in range(3))
        token = csrf(done)
        again = post(c, f"/batches/{batch_id}/cancel", csrf=token)
        assert (again.status_code, again.headers["location"]) == (303, f"/batches/{batch_id}")
        assert c.post(f"/batches/{batch_id}/cancel", data={"csrf": "x"}).status_code == 403

        with person(server, "batches-stranger@example.com") as other:
            mine = csrf(other.get("/batches"))
            for path in ("", "/events", "/archive", "/merged"):
                r = other.get(f"/batches/{batch_id}{path}")
                assert r.status_code == 404, (path, r.text)
            assert post(other, f"/batches/{batch_id}/cancel", csrf=mine).status_code == 404
            for odd in ("nope", "bat_" + "f" * 80, "%2e%2e"):
                assert other.get(f"/batches/{odd}").status_code == 404
            assert "No batches yet." in other.get("/batches?cursor=zzz").text


def test_hostile_requests_to_these_pages_are_never_a_server_error(
    docs: tuple[Process, dict[str, str]],
) -> None:
    server, _ = docs
    with person(server, "tpl-hostile@example.com") as c:
        token = csrf(c.get("/templates"))
        template_id = _made(c, name="target")
        long_id = "tpl_" + "a" * 5000
        for path in (
            f"/templates/{long_id}",
            "/templates/%00",
            "/templates/..%2F..%2Fetc",
            f"/templates/{template_id}?version=-1",
            f"/templates/{template_id}?version=1e3",
            f"/assets/{long_id}/content",
            "/assets/ast_nope/content",
            "/batches/%ff",
        ):
            r = c.get(path)
            assert r.status_code in (200, 404), (path, r.status_code)
        for fields in (
            _fields(body="{{ x }}\x01"),  # a control character: refused as a form
            _fields(schema=json.dumps({"$ref": "http://example.com/x"})),
            _fields(schema="[" * 5000 + "]" * 5000),
            _fields(sample_data="[" * 5000 + "]" * 5000),
            _fields(schema=json.dumps({"type": "object", "pattern": "("})),
            _fields(body="{{ ''.__class__.__mro__ }}"),
            _fields(body="{% include 'x' %}"),
            _fields(name="x" * 500),
            {"body": "only"},
        ):
            for path in ("/templates", f"/templates/{template_id}", "/templates/preview"):
                r = c.post(path, data={"csrf": token, **fields})
                assert r.status_code < 500, (path, fields, r.text[:300])
        # Uploads that are not a form, or a broken one.
        for body, kind in (
            (b"not a form", "multipart/form-data; boundary=zzz"),
            (b"--zzz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zzz--", "multipart/form-data"),
            (b"csrf=" + token.encode(), "application/x-www-form-urlencoded"),
        ):
            r = c.post("/assets", content=body, headers={"content-type": kind})
            assert r.status_code in (400, 403), (kind, r.status_code, r.text[:300])
        assert c.get(f"/templates/{template_id}").status_code == 200

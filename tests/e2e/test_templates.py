"""Templates end to end over HTTP, on SQLite and PostgreSQL: saving and versions, schema and
body errors, template jobs (their PDFs hold the filled text; hostile data stays text),
hostile templates stopped within their limits, the preview (no quota, rate limited) on
`pdfprompt serve` and on `pdfprompt api` with a separate worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.jobs import split_service, wait_final
from tests.support.llm import control, fake_llm, llm_env
from tests.support.processes import Process, cli, create_key, service_env, serving
from tests.support.render import pdf_text

pytestmark = pytest.mark.one_database("postgresql")

# The template time limit these servers run with: ample for a fill on a busy machine (2 s
# failed ordinary template jobs there); the hostile loop still ends at it.
TIMEOUT_S = "5"

INVOICE_BODY = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Invoice {{ number }}</title>
<style>body { font-family: sans-serif; } td.n { text-align: right; }</style></head>
<body>
<h1>Invoice {{ number }}</h1>
<p>Billed to {{ customer.name }} on {{ issued|date("%d %B %Y") }}</p>
<table>
{% for item in items %}<tr><td>{{ item.description }}</td>
<td class="n">{{ item.price|money(currency) }}</td></tr>
{% endfor %}</table>
<p>Total {{ items|sum(attribute="price")|money(currency) }}</p>
</body></html>"""

INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["number", "customer", "issued", "items", "currency"],
    "properties": {
        "number": {"type": "string", "maxLength": 40},
        "currency": {"type": "string", "maxLength": 8},
        "issued": {"type": "string", "format": "date"},
        "customer": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}},
        },
        "items": {"type": "array", "maxItems": 500, "items": {"$ref": "#/$defs/item"}},
    },
    "$defs": {
        "item": {
            "type": "object",
            "required": ["description", "price"],
            "properties": {
                "description": {"type": "string"},
                "price": {"type": "number", "minimum": 0},
            },
        }
    },
}

SAMPLE: dict[str, Any] = {
    "number": "2026-0042",
    "currency": "EUR",
    "issued": "2026-12-04",
    "customer": {"name": "Bakery Larsen"},
    "items": [
        {"description": "Sourdough loaves", "price": 1234.5},
        {"description": "Croissants", "price": 80},
    ],
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp(f"templates-{request.param}")
    with serving(request, tmp, request.param, PDFPROMPT_TEMPLATE_TIMEOUT_S=TIMEOUT_S) as s:
        yield s


def _client(served: tuple[Process, dict[str, str]], email: str) -> httpx.Client:
    server, env = served
    name, _, domain = email.partition("@")
    key = create_key(env, f"{name}-{uuid.uuid4().hex[:8]}@{domain}")
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def _invoice(c: httpx.Client, name: str = "invoice", **changes: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "engine": "html",
        "body": INVOICE_BODY,
        "schema": INVOICE_SCHEMA,
        "sample_data": SAMPLE,
        "options": {"format": "A4"},
        **changes,
    }
    r = c.post("/v1/templates", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _job_pdf(c: httpx.Client, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    created = c.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    job, _ = wait_final(c, created.json()["id"])
    assert job["status"] == "succeeded", job
    return job, pdf_text(c.get(f"/v1/jobs/{job['id']}/pdf").content)


def _failed(c: httpx.Client, template: str, data: dict[str, Any]) -> dict[str, Any]:
    created = c.post("/v1/jobs", json={"type": "template", "template": template, "data": data})
    assert created.status_code == 202, created.text
    job, _ = wait_final(c, created.json()["id"])
    assert job["status"] == "failed", job
    assert job["attempts"] == 1  # a template's error is the template's: not retried
    return dict(job["error"])


def test_create_read_version_list_delete(served: tuple[Process, dict[str, str]]) -> None:
    with _client(served, "crud@example.com") as c, _client(served, "other@example.com") as o:
        first = _invoice(c)
        assert first["id"].startswith("tpl_") and first["version"] == 1
        assert first["schema"] == INVOICE_SCHEMA and first["sample_data"] == SAMPLE
        assert first["options"] == {"format": "A4"}
        assert (
            c.post("/v1/templates", json={"name": "invoice", "body": "x"}).json()["code"]
            == "conflict"
        )

        changed = c.put(
            f"/v1/templates/{first['id']}",
            json={"name": "invoice", "body": "<p>v2 {{ number }}</p>", "engine": "html"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["version"] == 2 and changed.json()["schema"] is None

        latest = c.get(f"/v1/templates/{first['id']}").json()
        assert latest["version"] == 2 and latest["body"] == "<p>v2 {{ number }}</p>"
        old = c.get(f"/v1/templates/{first['id']}?version=1").json()
        assert old["body"] == INVOICE_BODY and old["latest_version"] == 2
        assert c.get(f"/v1/templates/{first['id']}?version=3").status_code == 404

        versions = c.get(f"/v1/templates/{first['id']}/versions").json()
        assert [v["version"] for v in versions["items"]] == [2, 1]
        page = c.get(f"/v1/templates/{first['id']}/versions?limit=1").json()
        assert [v["version"] for v in page["items"]] == [2] and page["next_cursor"] == "2"

        second = _invoice(c, "letter")
        listed = c.get("/v1/templates").json()
        assert [t["id"] for t in listed["items"]] == [second["id"], first["id"]]
        assert "body" not in listed["items"][0] and "schema" not in listed["items"][0]
        paged = c.get("/v1/templates?limit=1").json()
        assert paged["next_cursor"] == second["id"]
        rest = c.get(f"/v1/templates?limit=1&cursor={paged['next_cursor']}").json()
        assert [t["id"] for t in rest["items"]] == [first["id"]]

        # Another user's template does not exist for them.
        for path in (f"/v1/templates/{first['id']}", f"/v1/templates/{first['id']}/versions"):
            assert o.get(path).status_code == 404
        assert o.delete(f"/v1/templates/{first['id']}").status_code == 404
        assert o.get("/v1/templates").json()["items"] == []

        assert c.delete(f"/v1/templates/{first['id']}").status_code == 204
        assert c.get(f"/v1/templates/{first['id']}").status_code == 404
        assert c.delete(f"/v1/templates/{first['id']}").status_code == 404
        # The name is free again.
        assert _invoice(c)["version"] == 1

        # The same Idempotency-Key answers the template it made (even with another body).
        keyed = {"name": "keyed", "body": "<p>{{ a }}</p>"}
        made = c.post("/v1/templates", json=keyed, headers={"Idempotency-Key": "k-1"})
        assert made.status_code == 201, made.text
        again = c.post(
            "/v1/templates", json={**keyed, "body": "{% bad"}, headers={"Idempotency-Key": "k-1"}
        )
        assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
        other = o.post("/v1/templates", json=keyed, headers={"Idempotency-Key": "k-1"})
        assert other.status_code == 201 and other.json()["id"] != made.json()["id"]
        blank = c.post(
            "/v1/templates", json={**keyed, "name": "b"}, headers={"Idempotency-Key": ""}
        )
        assert blank.status_code == 422 and blank.json()["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"body": "<p>one</p>\n<p>{% if %}</p>"}, "body", "line 2"),
        ({"body": "{% include 'x' %}"}, "body", "include"),
        ({"body": "{% extends 'base' %}"}, "body", "extend"),
        ({"schema": {"type": "nonsense"}}, "schema", "schema"),
        ({"schema": {"$ref": "https://example.com/s.json"}}, "schema", "not allowed"),
        ({"schema": {"$defs": {"a": {"$ref": "http://127.0.0.1/x"}}}}, "schema", "not allowed"),
        ({"schema": {"$schema": "http://json-schema.org/draft-04/schema#"}}, "schema", "2020-12"),
        ({"name": " spaced"}, "name", "letters"),
        ({"name": "a/b"}, "name", "letters"),
        ({"engine": "jinja"}, "engine", "html"),
        ({"options": {"scale": 9}}, "options.scale", "less than"),
    ],
)
def test_bad_templates_are_refused_naming_the_field(
    served: tuple[Process, dict[str, str]], changes: dict[str, Any], field: str, words: str
) -> None:
    with _client(served, "bad@example.com") as c:
        body = {"name": "t", "body": "<p>{{ x }}</p>", **changes}
        r = c.post("/v1/templates", json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "invalid_input"
        assert r.json()["field"] == field, r.json()
        assert words in r.json()["detail"], r.json()
        assert c.get("/v1/templates").json()["items"] == []


def test_schema_errors_list_every_bad_field(served: tuple[Process, dict[str, str]]) -> None:
    with _client(served, "schema@example.com") as c:
        bad_sample = {**SAMPLE, "items": [{"description": "a", "price": "x"}, {"price": -1}]}
        r = c.post(
            "/v1/templates",
            json={"name": "inv", "body": INVOICE_BODY, "schema": INVOICE_SCHEMA,
                  "sample_data": bad_sample},
        )  # fmt: skip
        assert r.status_code == 422, r.text
        fields = [e["field"] for e in r.json()["errors"]]
        assert fields == [
            "sample_data/items/0/price",
            "sample_data/items/1",
            "sample_data/items/1/price",
        ], r.json()

        template = _invoice(c)
        data = {
            **SAMPLE,
            "customer": {},
            "items": [{"description": "ok", "price": 1}, {"description": 7, "price": "9"}],
        }
        data.pop("number")
        refused = c.post("/v1/jobs", json={"type": "template", "template": template["id"],
                                           "data": data})  # fmt: skip
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == "invalid_input"
        assert [e["field"] for e in problem["errors"]] == [
            "data",
            "data/customer",
            "data/items/1/description",
            "data/items/1/price",
        ]
        assert problem["field"] == "data" and problem["errors_total"] == 4
        assert all(e["message"] for e in problem["errors"])
        assert c.get("/v1/jobs").json()["items"] == []  # nothing was queued

        for ref in ("tpl_00000000-0000-7000-8000-000000000000", "nope", "invoice@9", "in valid@"):
            unknown = c.post("/v1/jobs", json={"type": "template", "template": ref, "data": {}})
            assert unknown.status_code == 422, (ref, unknown.text)
            assert unknown.json()["field"] == "template"
        for body in (
            {"type": "template", "data": {}},
            {"type": "template", "template": "invoice", "input": "x"},
            {"type": "html", "input": "<p>x</p>", "template": "invoice"},
            {"type": "template", "template": "invoice", "data": []},
        ):
            assert c.post("/v1/jobs", json=body).status_code == 422, body


def test_template_job_prints_its_version_and_data(served: tuple[Process, dict[str, str]]) -> None:
    with _client(served, "jobs@example.com") as c:
        template = _invoice(c)
        job, text = _job_pdf(c, {"type": "template", "template": "invoice", "data": SAMPLE})
        assert job["type"] == "template" and job["generator"] == "template"
        assert job["template"] == {"id": template["id"], "version": 1}
        assert job["options"] == {"format": "A4"}  # the template's default options
        assert "Invoice 2026-0042" in text and "Bakery Larsen" in text
        assert "1,234.50 EUR" in text and "Total 1,314.50 EUR" in text
        assert "04 December 2026" in text

        c.put(
            f"/v1/templates/{template['id']}",
            json={"name": "invoice", "body": "<p>Second design {{ number }}</p>"},
        )
        _, v2 = _job_pdf(c, {"type": "template", "template": template["id"],
                             "data": {"number": "N-2"}})  # fmt: skip
        assert "Second design N-2" in v2
        job1, v1 = _job_pdf(
            c,
            {"type": "template", "template": f"{template['id']}@1", "data": SAMPLE,
             "options": {"landscape": True, "title": "Mine"}},
        )  # fmt: skip
        assert job1["template"]["version"] == 1 and "Bakery Larsen" in v1
        assert job1["options"] == {"format": "A4", "landscape": True, "title": "Mine"}
        _, by_name = _job_pdf(c, {"type": "template", "template": "invoice@1", "data": SAMPLE})
        assert "Bakery Larsen" in by_name

        # A job queued before its template is deleted still prints (it keeps a copy).
        queued = c.post("/v1/jobs", json={"type": "template", "template": "invoice@1",
                                          "data": SAMPLE})  # fmt: skip
        assert c.delete(f"/v1/templates/{template['id']}").status_code == 204
        kept, _ = wait_final(c, queued.json()["id"])
        assert kept["status"] == "succeeded", kept


HOSTILE_DATA = [
    "{{7*7}}",
    "</style><script>alert(1)</script>",
    "{% include 'x' %}",
    "<img src=x onerror=alert(2)>",
]


@pytest.mark.parametrize("engine", ["html", "markdown"])
def test_hostile_data_stays_text(served: tuple[Process, dict[str, str]], engine: str) -> None:
    with _client(served, f"hostile-data-{engine}@example.com") as c:
        body = (
            "<style>p { color: black }</style><p>Value: {{ v }}</p><p>End {{ deep|length }}</p>"
            if engine == "html"
            else "# Title\n\nValue: {{ v }}\n\nEnd {{ deep|length }}"
        )
        r = c.post("/v1/templates", json={"name": "h", "engine": engine, "body": body})
        assert r.status_code == 201, r.text
        deep: Any = "bottom"
        for _ in range(30):
            deep = {"d": deep}
        for value in [*HOSTILE_DATA, "long " * 20_000]:
            _, text = _job_pdf(
                c, {"type": "template", "template": "h", "data": {"v": value, "deep": deep}}
            )
            flat = " ".join(text.split())
            assert " ".join(value.split())[:200] in flat, (value, flat[:300])
            assert "49" not in flat
            assert "End 1" in flat
        # Data nested past the body parser's limit is refused before anything is queued.
        too_deep: Any = 1
        for _ in range(200):
            too_deep = {"d": too_deep}
        refused = c.post("/v1/jobs", json={"type": "template", "template": "h", "data": too_deep})
        assert refused.status_code == 400, refused.text


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
         "template_timeout", "time limit"),
        ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}", "template_error", "recursion"),
        ("{{ range(1000000)|list }}", "template_error", "range"),
        ("<p>\n{{ 'x' * 10**9 }}</p>", "template_error", "line 2"),
        ("{{ '%999999999s' % 1 }}", "template_error", "format"),
        ("{{ 'x'|center(1000000000) }}", "template_error", "limit"),
        ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "template_error", "limit"),
        ("{% set a = 'x' * 1000000 %}{% for i in range(100000) %}"
         "{% set b = a~a~a~a~a~a~a~a~a~a~a~a~a~a~a~a~a~a~a~a %}{% endfor %}",
         "template_", ""),
        ("{{ 1 / 0 }}", "template_error", "ZeroDivisionError"),
    ],
)  # fmt: skip
def test_hostile_templates_end_within_their_limits(
    served: tuple[Process, dict[str, str]], body: str, code: str, words: str
) -> None:
    with _client(served, "hostile@example.com") as c:
        assert c.post("/v1/templates", json={"name": "bomb", "body": body}).status_code == 201
        error = _failed(c, "bomb", {})
        assert error["code"].startswith(code), error
        assert words in error["message"], error
        # The worker is fine afterwards: the next template job succeeds.
        c.post("/v1/templates", json={"name": "fine", "body": "<p>still {{ x }}</p>"})
        _, text = _job_pdf(c, {"type": "template", "template": "fine", "data": {"x": "working"}})
        assert "still working" in text


@pytest.mark.parametrize(
    "body",
    [
        "<p>[{{ ''.__class__.__mro__ }}]</p>",
        "<p>[{{ cycler.__init__.__globals__ }}]</p>",
        "<p>[{{ self._TemplateReference__context }}]</p>",
        "<p>[{{ joiner.__init__.__globals__ }}]</p>",
        "<p>[{{ range.__self__ }}]</p>",
        "<p>[{{ lipsum }}]</p>",
        "<p>[{{ namespace }}]</p>",
        "<p>[{{ config }}]</p>",
        "<p>[{{ items.append }}]</p>",
    ],
)
def test_sandbox_escapes_give_nothing(served: tuple[Process, dict[str, str]], body: str) -> None:
    with _client(served, "escape@example.com") as c:
        assert c.post("/v1/templates", json={"name": "e", "body": body}).status_code == 201
        created = c.post("/v1/jobs", json={"type": "template", "template": "e",
                                           "data": {"items": [1]}})  # fmt: skip
        job, _ = wait_final(c, created.json()["id"])
        if job["status"] == "succeeded":
            text = pdf_text(c.get(f"/v1/jobs/{job['id']}/pdf").content)
            assert "[]" in text, text  # an undefined, printed as nothing
        else:
            assert job["error"]["code"] == "template_error", job


def _usage(c: httpx.Client) -> tuple[int, int]:
    pdfs = c.get("/v1/usage").json()["pdfs"]
    return pdfs["used"], pdfs["reserved"]


def _check_preview(c: httpx.Client) -> None:
    template = _invoice(c)
    before = _usage(c)
    # A preview waits 30 s for a worker and answers 503 "try again" past that: on a busy
    # machine the first one (the worker's first template process and render) has, so a
    # client's retries are made here as a client makes them.
    for _ in range(3):
        r = c.post(f"/v1/templates/{template['id']}/preview", json={})
        if r.status_code != 503:
            break
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert "PREVIEW" in text and "Bakery Larsen" in text
    mine = c.post(
        f"/v1/templates/{template['id']}/preview",
        json={"data": {**SAMPLE, "customer": {"name": "Other Shop"}}, "version": 1},
    )
    assert "Other Shop" in pdf_text(mine.content)
    bad = c.post(f"/v1/templates/{template['id']}/preview", json={"data": {"items": 3}})
    assert bad.status_code == 422 and bad.json()["errors"], bad.text
    assert _usage(c) == before  # no quota used or reserved
    assert c.get("/v1/jobs").json()["items"] == []  # previews leave no job behind


def test_preview_uses_no_quota_and_is_rate_limited(
    served: tuple[Process, dict[str, str]],
) -> None:
    with _client(served, "preview@example.com") as c:
        _check_preview(c)
        failing = c.post("/v1/templates", json={"name": "slow", "body": "{{ 1/0 }}"}).json()
        r = c.post(f"/v1/templates/{failing['id']}/preview", json={})
        assert r.status_code == 422 and r.json()["code"] == "template_error", r.text
        limited = None
        for _ in range(12):
            limited = c.post(f"/v1/templates/{failing['id']}/preview", json={})
            if limited.status_code == 429:
                break
        assert limited is not None
        assert limited.status_code == 429, limited.text
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "rate_limited"
        assert c.post("/v1/templates/tpl_nope/preview", json={}).status_code in (404, 429)


def test_preview_on_api_and_worker_apart(pg_template: str, tmp_path: Path) -> None:
    from tests.support.databases import pg_database

    with pg_database(pg_template) as url:
        env = service_env(tmp_path / "data", url, PDFPROMPT_TEMPLATE_TIMEOUT_S=TIMEOUT_S)
        cli(env, "db", "upgrade")
        with split_service(env, tmp_path, "split@example.com") as split:
            _check_preview(split.client)
            _, text = _job_pdf(
                split.client, {"type": "template", "template": "invoice", "data": SAMPLE}
            )
            assert "Bakery Larsen" in text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def with_llm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str], str]]:
    """`pdfprompt serve` using the fake LLM peer (streamed answers)."""
    tmp = tmp_path_factory.mktemp(f"generate-{request.param}")
    with (
        fake_llm(tmp, "--stream", "--chunk-ms", "1") as fake_url,
        serving(request, tmp, request.param, **llm_env(fake_url)) as (server, env),
    ):
        yield server, env, fake_url


@pytest.mark.parametrize("engine", ["html", "markdown"])
def test_a_template_written_from_a_prompt(
    with_llm: tuple[Process, dict[str, str], str], engine: str
) -> None:
    server, env, fake_url = with_llm
    control(fake_url, reset=True, behaviours={"model:fake-large": "text"})
    with _client((server, env), f"generate-{engine}@example.com") as c:
        before = _usage(c)
        prompt = "an invoice for a bakery with line items and VAT"
        made = c.post("/v1/templates/generate", json={"prompt": prompt, "engine": engine})
        assert made.status_code == 202, made.text
        assert made.json()["type"] == "template_generate" and made.json()["template"] is None
        job, _ = wait_final(c, made.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["generator"] == "llm"
        # The first model answered with no template: the next one wrote it.
        calls = httpx.get(f"{fake_url}/_calls").json()
        assert [call["model"] for call in calls] == ["fake-large", "fake-small"]
        ref = job["template"]
        assert ref["version"] == 1
        template = c.get(f"/v1/templates/{ref['id']}").json()
        assert template["name"] == prompt and template["engine"] == engine
        assert template["sample_data"]["customer"]["name"] == "Sample Customer"
        assert "{{" in template["body"] and template["schema"]["type"] == "object"
        text = " ".join(pdf_text(c.get(f"/v1/jobs/{job['id']}/pdf").content).split())
        assert prompt in text and "Sample Customer" in text and "42.50 EUR" in text
        assert _usage(c)[0] == before[0] + 1  # counted like any job

        # The saved template fills other data as any template does.
        _, filled = _job_pdf(c, {"type": "template", "template": ref["id"], "data": {
            "title": "Order 7", "customer": {"name": "Café Nord"},
            "items": [{"description": "Rye", "price": 3}]}})  # fmt: skip
        assert "Café Nord" in filled and "3.00 EUR" in filled

        # A second template from the same prompt gets a name of its own.
        again = c.post("/v1/templates/generate", json={"prompt": prompt, "engine": engine})
        second, _ = wait_final(c, again.json()["id"])
        assert second["status"] == "succeeded", second
        named = c.get(f"/v1/templates/{second['template']['id']}").json()["name"]
        assert named == f"{prompt} 2"


def test_a_hostile_or_unusable_written_template(
    with_llm: tuple[Process, dict[str, str], str],
) -> None:
    server, env, fake_url = with_llm
    with _client((server, env), "generate-hostile@example.com") as c:
        control(fake_url, reset=True, behaviours={"model:fake-large": "hostile"},
                hostile_url="http://127.0.0.1:9/")  # fmt: skip
        made = c.post("/v1/templates/generate", json={"prompt": "a short report"})
        job, _ = wait_final(c, made.json()["id"])
        assert job["status"] == "succeeded", job
        body = c.get(f"/v1/templates/{job['template']['id']}").json()["body"]
        assert "<script>" in body  # kept as written: it is the user's to edit
        assert "a short report" in pdf_text(c.get(f"/v1/jobs/{job['id']}/pdf").content)
        # The filled document was cleaned like a prompt's: the script and the external image
        # were gone before the render, so the renderer had nothing to refuse.
        assert job["warnings"] == [], job["warnings"]

        control(fake_url, reset=True, behaviours={"model:fake-large": "text",
                                                  "model:fake-small": "text"})  # fmt: skip
        made = c.post("/v1/templates/generate", json={"prompt": "anything"})
        failed, _ = wait_final(c, made.json()["id"])
        assert failed["status"] == "failed" and failed["error"]["code"] == "llm_failed"
        assert failed["template"] is None
        for bad in ({"prompt": ""}, {"prompt": "  "}, {"prompt": "x", "engine": "pdf"}, {}):
            r = c.post("/v1/templates/generate", json=bad)
            assert r.status_code == 422, (bad, r.text)
        long = c.post("/v1/templates/generate", json={"prompt": "x" * 30_000})
        assert long.status_code == 422 and long.json()["field"] == "prompt"

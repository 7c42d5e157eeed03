"""Bad input gets a clear problem+json naming the field, and creates nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import Process, create_key
from tests.support.render import pdf_text
from tests.support.waiting import wait_until

pytestmark = pytest.mark.one_database("sqlite")

MAX_INPUT_BYTES = 1_048_576  # the documented default of PDFPROMPT_MAX_INPUT_BYTES


def _job(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "markdown", "input": "# ok"}
    body.update(over)
    return body


# (name, body as JSON or raw bytes, status, code, field)
CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("unknown type", _job(type="docx"), 422, "invalid_input", "type"),
    ("missing type", {"input": "# x"}, 422, "invalid_input", "type"),
    ("missing input", {"type": "markdown"}, 422, "invalid_input", "input"),
    ("empty input", _job(input=""), 422, "invalid_input", "input"),
    ("blank input", _job(input="  \n\t "), 422, "invalid_input", None),
    ("input not a string", _job(input=42), 422, "invalid_input", "input"),
    ("unknown top-level field", _job(colour="red"), 422, "invalid_input", "colour"),
    ("unknown option", _job(options={"colour": "red"}), 422, "invalid_input", "options.colour"),
    ("scale too large", _job(options={"scale": 7}), 422, "invalid_input", "options.scale"),
    ("scale as text", _job(options={"scale": "1"}), 422, "invalid_input", "options.scale"),
    ("unknown format", _job(options={"format": "B9"}), 422, "invalid_input", "options.format"),
    (
        "margin not a length",
        _job(options={"margin": {"top": "lots"}}),
        422,
        "invalid_input",
        "options.margin.top",
    ),
    (
        "unknown margin side",
        _job(options={"margin": {"middle": "1cm"}}),
        422,
        "invalid_input",
        "options.margin.middle",
    ),
    (
        "landscape not a boolean",
        _job(options={"landscape": "yes"}),
        422,
        "invalid_input",
        "options.landscape",
    ),
    (
        "tagged not a boolean",
        _job(options={"tagged": "yes"}),
        422,
        "invalid_input",
        "options.tagged",
    ),
    ("width without height", _job(options={"width": "10cm"}), 422, "invalid_input", "options"),
    (
        "bad page ranges",
        _job(options={"page_ranges": "1-x"}),
        422,
        "invalid_input",
        "options.page_ranges",
    ),
    ("reversed page range", _job(options={"page_ranges": "5-2"}), 422, "invalid_input", None),
    ("options not an object", _job(options=[1]), 422, "invalid_input", "options"),
    # What fails the same way on every render is refused at submission (it used to be
    # retried until the attempts ran out).
    (
        "margins wider than the page",
        _job(options={"format": "A5", "margin": {"left": "80mm", "right": "80mm"}}),
        422,
        "invalid_input",
        "options.margin.left",
    ),
    (
        "margins taller than the default page",
        _job(options={"margin": {"top": "150mm", "bottom": "150mm"}}),
        422,
        "invalid_input",
        "options.margin.top",
    ),
    (
        "a zero-size page",
        _job(options={"width": "0px", "height": "10cm"}),
        422,
        "invalid_input",
        "options.width",
    ),
    (
        "a page larger than PDF allows",
        _job(options={"width": "300in", "height": "10in"}),
        422,
        "invalid_input",
        "options.width",
    ),
    (
        "a page number beyond any renderer",
        _job(options={"page_ranges": "1-99999999999"}),
        422,
        "invalid_input",
        "options.page_ranges",
    ),
    (
        "page zero",
        _job(options={"page_ranges": "0-3"}),
        422,
        "invalid_input",
        "options.page_ranges",
    ),
    (
        "a stylesheet link in the header",
        _job(options={"header_html": '<link rel="stylesheet" href="https://x.test/a.css">'}),
        422,
        "invalid_input",
        "options.header_html",
    ),
    (
        "an import in the footer",
        _job(options={"footer_html": "<style>@import 'https://x.test/a.css';</style>"}),
        422,
        "invalid_input",
        "options.footer_html",
    ),
    (
        "an image from the web in the footer",
        _job(options={"footer_html": '<img src="https://x.test/logo.png">'}),
        422,
        "invalid_input",
        "options.footer_html",
    ),
    (
        "a background from the web in the header",
        _job(options={"header_html": "<div style=\"background: url('//x.test/b.png')\">"}),
        422,
        "invalid_input",
        "options.header_html",
    ),
    ("unknown theme", _job(options={"theme": "neon"}), 422, "invalid_input", "options.theme"),
    ("lang not a language", _job(options={"lang": "en us"}), 422, "invalid_input", "options.lang"),
    (
        "front matter not YAML",
        _job(input="---\ntitle: [unclosed\n---\n# x"),
        422,
        "invalid_input",
        "input",
    ),
    ("front matter a list", _job(input="---\n- a\n---\n# x"), 422, "invalid_input", "input"),
    (
        "front matter margin not a length",
        _job(input="---\nmargin: lots\n---\n# x"),
        422,
        "invalid_input",
        "input.front_matter.margin.top",
    ),
    (
        "front matter theme unknown",
        _job(input="---\ntheme: neon\n---\n# x"),
        422,
        "invalid_input",
        "input.front_matter.theme",
    ),
    (
        "markdown tables of too many cells",
        # 100 KB: a header of 1,000 columns over one-cell rows, each padded to 1,000 cells.
        _job(input="|h" * 1000 + "|\n" + "|-" * 1000 + "|\n" + "|x|\n" * 24_000),
        422,
        "invalid_input",
        "input",
    ),
    ("body not an object", [1, 2], 422, "invalid_input", "body"),
    ("malformed JSON", b'{"type": "markdown", "input": ', 400, "invalid_input", "body"),
    ("not UTF-8", b'{"type": "markdown", "input": "\xff"}', 400, "invalid_input", "body"),
    (
        "input over the byte limit",
        _job(input="a" * (MAX_INPUT_BYTES + 1)),
        413,
        "payload_too_large",
        "input",
    ),
    (
        "multi-byte input over the byte limit",
        _job(input="é" * (MAX_INPUT_BYTES // 2 + 1)),
        413,
        "payload_too_large",
        "input",
    ),
    ("body far over the limit", b"x" * (4 * MAX_INPUT_BYTES), 413, "payload_too_large", "body"),
]


@pytest.fixture(scope="module")
def client(service: tuple[Process, dict[str, str]]) -> Iterator[httpx.Client]:
    server, env = service
    key = create_key(env, "bad-input@example.com")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as c:
        yield c


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= set(problem)
    assert problem["detail"]
    return problem


@pytest.mark.parametrize(
    ("name", "body", "status", "code", "field"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_submission_is_refused_and_creates_nothing(
    client: httpx.Client, name: str, body: Any, status: int, code: str, field: str | None
) -> None:
    if isinstance(body, bytes):
        response = client.post(
            "/v1/jobs", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = client.post("/v1/jobs", json=body)
    problem = _assert_problem(response, status, code)
    if field is not None:
        assert problem.get("field") == field
        assert field.split(".")[-1] in problem["detail"]
    assert client.get("/v1/jobs").json()["items"] == []


def test_markdown_front_matter_sets_options_and_a_bad_formula_is_a_warning(
    client: httpx.Client,
) -> None:
    """A Markdown job's front matter fills in the options the request leaves out (the
    request's win), and a formula the converter cannot take is a warning, not a failure."""
    text = "---\ntitle: Survey\ntheme: report\nformat: A5\ntoc: true\n---\n# Survey\n\n"
    text += "## Findings\n\n$\\nosuch{x}$\n"
    made = client.post("/v1/jobs", json=_job(input=text, options={"format": "Letter"}))
    assert made.status_code == 202, made.text
    assert made.json()["options"] == {
        "title": "Survey",
        "theme": "report",
        "format": "Letter",
        "toc": True,
        "outline": True,
    }
    url = f"/v1/jobs/{made.json()['id']}"
    job = wait_until(
        lambda: (j := client.get(url).json())["status"] in ("succeeded", "failed") and j,
        60,
        "the Markdown job ended",
    )
    assert job["status"] == "succeeded", job
    assert [w["code"] for w in job["warnings"]] == ["math_unsupported"]
    assert "\\nosuch{x}" in job["warnings"][0]["message"]
    # The title page, the contents (with the page of "Findings", 3), the text.
    assert job["file"]["pages"] == 3
    pdf = client.get(f"{url}/pdf").content
    assert re.search(r"1 Findings \.* ?3", " ".join(pdf_text(pdf).split()))
    client.delete(url)


def test_headers_and_footers_may_hold_links_and_data(client: httpx.Client) -> None:
    """What a header or footer may have: links (followed, not loaded) and data: URIs."""
    options = {
        "footer_html": '<a href="https://example.com">example.com</a> {{page}}/{{pages}}',
        "header_html": '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">',
    }
    made = client.post("/v1/jobs", json=_job(options=options))
    assert made.status_code == 202, made.text
    client.delete(f"/v1/jobs/{made.json()['id']}")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer pp_aaaaaaaaaaaa_" + "x" * 43],
    ids=["none", "empty", "no token", "not a key", "basic auth", "unknown key"],
)
def test_missing_or_bad_key_is_401(
    service: tuple[Process, dict[str, str]], authorization: str | None
) -> None:
    server, _ = service
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (("POST", "/v1/jobs"), ("GET", "/v1/jobs"), ("GET", "/v1/jobs/x")):
        response = httpx.request(
            method, server.base_url + path, headers=headers, json=_job(), timeout=10
        )
        problem = _assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        assert "key" in problem["detail"].lower()


def test_another_users_job_is_404_and_unchanged(
    service: tuple[Process, dict[str, str]], client: httpx.Client
) -> None:
    server, env = service
    owner_key = create_key(env, "owner@example.com")
    owner = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {owner_key}"})
    job = owner.post("/v1/jobs", json=_job()).json()
    for method, path in (
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/pdf"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
        ("DELETE", f"/v1/jobs/{job['id']}"),
        ("GET", "/v1/jobs/00000000-0000-7000-8000-000000000000"),
    ):
        _assert_problem(client.request(method, path), 404, "not_found")
    after = owner.get(f"/v1/jobs/{job['id']}")
    assert after.status_code == 200 and after.json()["status"] != "canceled"
    owner.close()


def test_bad_list_filters_are_refused(client: httpx.Client) -> None:
    problem = _assert_problem(client.get("/v1/jobs?status=done"), 422, "invalid_input")
    assert problem["field"] == "query.status"
    _assert_problem(client.get("/v1/jobs?limit=0"), 422, "invalid_input")
    _assert_problem(client.get("/v1/nowhere"), 404, "not_found")

"""The API's edges without a server: how bodies are parsed, what a log line keeps, which
options are refused at submission, and what the OpenAPI document says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdfprompt.actions import integer_cursor
from pdfprompt.api import create_app, redact
from pdfprompt.api.body import MAX_DEPTH, parse_json
from pdfprompt.domain import (
    InvalidInputError,
    MalformedBodyError,
    RenderOptions,
    check_header_footer,
    check_page_geometry,
)
from pdfprompt.domain.options import Margin
from pdfprompt.settings import Settings


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2), "nested"),
        (b'{"a": ' * (MAX_DEPTH + 2) + b"1" + b"}" * (MAX_DEPTH + 2), "nested"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "characters"),
        (b'{"n": 1.' + b"5" * 100 + b"}", "characters"),
        (b'{"n": NaN}', "not JSON"),
        (b'{"n": -Infinity}', "not JSON"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'{"a": ', "malformed"),
    ],
)
def test_bodies_beyond_the_limits_are_malformed(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedBodyError) as caught:
        parse_json(raw)
    assert why in caught.value.message and caught.value.field == "body"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"input": "a\u0000b"}, "input"),
        ({"options": {"title": "\u0000"}}, "options.title"),
        ({"options": {"bad\u0000key": 1}}, "options"),
        ({"items": ["ok", "no\u0000"]}, "items.1"),
        ({"input": "a\ud800b"}, "input"),
    ],
)
def test_a_nul_or_lone_surrogate_is_refused_naming_where(value: Any, field: str) -> None:
    raw = json.dumps(value).encode()  # ensure_ascii: \u0000 and \ud800 escapes
    with pytest.raises(InvalidInputError) as caught:
        parse_json(raw)
    assert caught.value.field == field


def test_plain_json_within_the_limits_is_taken() -> None:
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(nested) is not None
    assert parse_json(b'{"n": 12, "x": 1.5, "e": 1e3, "s": "\\u00e9"}') == {
        "n": 12,
        "x": 1.5,
        "e": 1000.0,
        "s": "é",
    }


@pytest.mark.parametrize("cursor", ["²", "٣", "1" * 19, "-1", "1.0", " 1", "0x10"])
def test_cursors_are_ascii_digits_that_fit(cursor: str) -> None:
    with pytest.raises(InvalidInputError):
        integer_cursor(cursor)
    assert integer_cursor("9" * 18) == 10**18 - 1


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/s/AbC-123_xyz", "/s/[redacted]"),
        ("/s/AbC-123_xyz?download=1", "/s/[redacted]?download=1"),
        ("/v1/jobs?token=abc&limit=5", "/v1/jobs?token=[redacted]&limit=5"),
        ("/x?a=1&Password=hunter2", "/x?a=1&Password=[redacted]"),
        ("/v1/jobs/123", "/v1/jobs/123"),
    ],
)
def test_log_lines_keep_no_secret(target: str, kept: str) -> None:
    assert redact(target) == kept


@pytest.mark.parametrize(
    "template",
    [
        '<link rel="stylesheet" href="https://x.test/a.css">',
        "<script>1</script>",
        "<iframe src=data:text/html,x></iframe>",
        "<style>@IMPORT 'a.css';</style>",
        "<div style=\"background:url('https://x.test/a.png')\"></div>",
        "<div style='background:url(//x.test/a.png)'></div>",
        '<img src="https://x.test/logo.png">',
        "<img src=file:///etc/passwd>",
        '<img srcset="https://x.test/a.png 2x">',
        '<svg><image href="https://x.test/a.png"/></svg>',
        '<svg><use xlink:href="https://x.test/s.svg#i"/></svg>',
        '<object data="https://x.test/x"></object>',
        "<META http-equiv=refresh content=0;url=https://x.test>",
    ],
)
def test_a_header_or_footer_that_loads_anything_is_refused(template: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_header_footer(template, "options.footer_html")
    assert caught.value.field == "options.footer_html"


@pytest.mark.parametrize(
    "template",
    [
        "Page {{page}} of {{pages}}",
        '<a href="https://example.com">example.com</a>',
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        "<div style=\"background:url('data:image/png;base64,AA==')\"></div>",
        '<svg><use href="#i"/></svg>',
    ],
)
def test_a_header_or_footer_that_loads_nothing_is_taken(template: str) -> None:
    assert check_header_footer(template, "options.header_html") == template


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (RenderOptions(width="0mm", height="10cm"), "options.width"),
        (RenderOptions(width="10cm", height="201in"), "options.height"),
        (
            RenderOptions(format="A5", margin=Margin(left="75mm", right="75mm")),
            "options.margin.left",
        ),
        (RenderOptions(margin=Margin(top="150mm", bottom="150mm")), "options.margin.top"),
        # Landscape turns the page: A4's 210 mm is now its height.
        (
            RenderOptions(format="A4", landscape=True, margin=Margin(top="105mm", bottom="105mm")),
            "options.margin.top",
        ),
    ],
)
def test_a_page_that_leaves_nothing_to_print_on_is_refused(
    options: RenderOptions, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_page_geometry(options)
    assert caught.value.field == field


def test_pages_that_can_be_printed_are_taken() -> None:
    check_page_geometry(RenderOptions())
    check_page_geometry(
        RenderOptions(width="2in", height="1in", margin=Margin("1mm", "1mm", "1mm", "1mm"))
    )
    check_page_geometry(RenderOptions(format="A4", margin=Margin(top="100mm", bottom="100mm")))


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = Path(tmp_path_factory.mktemp("openapi"))
    built: dict[str, Any] = create_app(Settings(data_dir=data)).openapi()
    return built


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_the_openapi_document_describes_bodies_problems_and_content(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    operations = {
        (method.upper(), path): op
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    for (method, path), op in operations.items():
        answers = op["responses"]
        if path.startswith("/v1/"):
            for status in ("401", "403", "422", "429", "503"):
                content = answers[status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
        if "{" in path:
            assert "404" in answers, (method, path)
        assert "500" not in answers
    bodies = {
        ("POST", "/v1/jobs"): "JobIn",
        ("POST", "/v1/jobs/{job_id}/revise"): "ReviseIn",
        ("POST", "/v1/keys"): "KeyIn",
        ("POST", "/v1/webhooks"): "WebhookIn",
        ("PATCH", "/v1/webhooks/{webhook_id}"): "WebhookPatch",
        ("POST", "/v1/files/{file_id}/shares"): "ShareIn",
        ("POST", "/v1/batches"): "BatchIn",
        ("POST", "/v1/templates"): "TemplateIn",
        ("PUT", "/v1/templates/{template_id}"): "TemplateIn",
        ("POST", "/v1/templates/{template_id}/preview"): "PreviewIn",
        ("POST", "/v1/templates/generate"): "GenerateIn",
    }
    for operation, op in operations.items():
        if operation in bodies:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{bodies[operation]}"}
            assert {"400", "413"} <= set(op["responses"]), operation
        elif operation == ("POST", "/v1/assets"):  # an upload: a form or the bytes alone
            content = op["requestBody"]["content"]
            assert list(content) == ["multipart/form-data", "application/octet-stream"]
            assert "413" in op["responses"]
        elif operation == ("POST", "/v1/certificates"):  # a PKCS#12 file and its password
            assert list(op["requestBody"]["content"]) == ["multipart/form-data"]
            assert "413" in op["responses"]
        else:
            assert "requestBody" not in op, operation
    for pdf in ("/v1/jobs/{job_id}/pdf", "/v1/files/{file_id}/content", "/s/{token}"):
        answers = operations[("GET", pdf)]["responses"]
        assert list(answers["200"]["content"]) == ["application/pdf"]
        assert {"206", "304", "416"} <= set(answers)
    events = operations[("GET", "/v1/jobs/{job_id}/events")]["responses"]["200"]["content"]
    assert list(events) == ["text/event-stream"]
    links = operations[("POST", "/v1/jobs")]["responses"]["202"]["links"]
    assert links["GetJob"]["parameters"] == {"job_id": "$response.body#/id"}
    assert schemas["OptionsIn"]["properties"]["page_ranges"]["anyOf"][0]["pattern"]

"""The template engine in this process: filters, escaping, the sandbox's refusals and
limits; the JSON Schema checks; how a job names a template."""

from __future__ import annotations

from typing import Any

import pytest

from pdfprompt.domain import (
    DataInvalidError,
    InvalidInputError,
    PayloadTooLargeError,
    TemplateEngine,
    TemplateInput,
    TemplateRef,
    TemplateRenderError,
    TemplateTimeoutError,
    parse_template_ref,
    template_of_input,
)
from pdfprompt.generate import check_body, check_data, check_schema, fill

HTML, MARKDOWN = TemplateEngine.HTML, TemplateEngine.MARKDOWN


def _fill(body: str, data: Any = None, engine: TemplateEngine = HTML, **kw: Any) -> str:
    limits = {"timeout_s": 1.0, "max_chars": 100_000, **kw}
    return fill(body, engine, data if data is not None else {}, **limits)


@pytest.mark.parametrize(
    ("body", "data", "shown"),
    [
        ("{{ 1234567.891|money }}", {}, "1,234,567.89"),
        ("{{ x|money('EUR') }}", {"x": "0.005"}, "0.01 EUR"),
        ("{{ x|money }}", {"x": -1234.5}, "-1,234.50"),
        ("{{ x|number }}", {"x": 999.5}, "1,000"),
        ("{{ x|number(3, thousands='.', point=',') }}", {"x": 1234.5}, "1.234,500"),
        ("{{ x|date }}", {"x": "2026-02-03T10:00:00"}, "2026-02-03"),
        ("{{ x|date('%A %d %B %Y') }}", {"x": "2026-12-04"}, "Friday 04 December 2026"),
        ("{{ x|date('%a %b') }}", {"x": "2026-01-01"}, "Thu Jan"),
        ("{{ customer.name }}/{{ data.customer.name }}", {"customer": {"name": "A"}}, "A/A"),
        ("{% for i in items %}{{ loop.index }}{{ i }};{% endfor %}", {"items": ["a", "b"]},
         "1a;2b;"),
        ("{{ items|sum(attribute='p')|money }}", {"items": [{"p": 1}, {"p": 2.5}]}, "3.50"),
        ("[{{ missing }}][{{ missing.deeper }}]", {}, "[][]"),
    ],
)  # fmt: skip
def test_filters_and_data(body: str, data: dict[str, Any], shown: str) -> None:
    assert _fill(body, data) == shown


@pytest.mark.parametrize(
    ("body", "data", "words"),
    [
        ("{{ x|money }}", {"x": "ten"}, "expected a number"),
        ("{{ x|money }}", {"x": True}, "boolean"),
        ("{{ x|money }}", {"x": "1e999999"}, "not a usable number"),
        ("{{ x|number(50) }}", {"x": 1}, "places"),
        ("{{ x|date }}", {"x": "yesterday"}, "ISO 8601"),
    ],
)
def test_filters_refuse_what_they_cannot_format(body: str, data: Any, words: str) -> None:
    with pytest.raises(TemplateRenderError, match=words):
        _fill(body, data)


HOSTILE = [
    "{{7*7}}",
    "</style><script>alert(1)</script>",
    "{% include 'x' %}",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)',
    "[link](javascript:alert(1)) **bold** # heading <b>b</b> &amp;",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_data_never_becomes_markup_or_template_syntax(value: str) -> None:
    html = _fill('<p title="{{ v }}">{{ v }}</p>', {"v": value})
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "49" not in html and 'onmouseover="' not in html
    md = _fill("# Title\n\n{{ v }}", {"v": value}, MARKDOWN)
    body = md[md.index("<main") :]
    for tag in ("<script", "<img", "<a ", "<strong", "<b>", "<h1>#", "<style"):
        assert tag not in body.replace("<h1>Title</h1>", ""), (value, body)
    assert "49" not in body


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
         TemplateTimeoutError, "time limit"),
        ("{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}"
         "{% endfor %}", TemplateRenderError, "more than"),
        ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}",
         TemplateRenderError, "recursion"),
        ("{{ 'x' * 10**9 }}", TemplateRenderError, "over the limit"),
        ("{{ [1] * 10**9 }}", TemplateRenderError, "over the limit"),
        ("{{ 10**10**10 }}", TemplateRenderError, "digits"),
        ("{{ '%999999999s' % 1 }}", TemplateRenderError, "format"),
        ("{{ '%.*f' % (99999999, 1) }}", TemplateRenderError, "format"),
        ("{{ '{:>999999999}'.format(1) }}", TemplateRenderError, "format"),
        ("{{ '%s'|format('x') ~ '%9999d'|format(1) }}", TemplateRenderError, "format"),
        ("{{ 'x'|center(10**9) }}", TemplateRenderError, "limit"),
        ("{{ 'x'.ljust(10**9) }}", TemplateRenderError, "limit"),
        ("{{ [1]|batch(10**9)|list }}", TemplateRenderError, "limit"),
        ("{{ range(10**9) }}", TemplateRenderError, "range"),
        ("{{ lipsum(1000) }}", TemplateRenderError, "undefined"),
        ("{{ namespace(a=1) }}", TemplateRenderError, "undefined"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", TemplateRenderError, "unsafe"),
        ("{% set x = {}.update(a=1) %}", TemplateRenderError, "not allowed|unsafe"),
        ("line one\n{{ 1 / 0 }}", TemplateRenderError, "line 2"),
    ],
)  # fmt: skip
def test_hostile_templates_are_stopped(body: str, error: type[Exception], words: str) -> None:
    # The time limit only where it is what stops the template: the others are stopped by
    # their own limits in milliseconds, and a busy machine may take over a second to start
    # the process a template is filled in.
    with pytest.raises(error, match=words):
        _fill(body, timeout_s=1.0 if error is TemplateTimeoutError else 30.0)


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ self.__dict__ }}",
        "{{ range.__globals__ }}",
        "{{ x.__class__.__base__ }}",
        "{{ x.mro }}",
    ],
)
def test_internals_are_out_of_reach(body: str) -> None:
    try:
        shown = _fill(body, {"x": 1})
    except TemplateRenderError:
        return
    assert shown == ""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<p>a</p>\n{% if %}", "line 2"),
        ("{% for %}", "line 1"),
        ("{{ x", "line 1"),
        ("\n\n{% include 'header' %}", "line 3: a template may not include"),
        ("{% import 'm' as m %}", "include, import or extend"),
        ("{% from 'm' import x %}", "include, import or extend"),
        ("{% extends 'base' %}", "include, import or extend"),
    ],
)
def test_bodies_that_do_not_compile_name_the_line(body: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words) as raised:
        check_body(body, HTML)
    assert raised.value.field == "body"


def test_a_deep_body_is_refused_not_crashed() -> None:
    with pytest.raises(InvalidInputError):
        check_body("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", HTML)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
    "$defs": {"item": {"type": "object", "properties": {"price": {"type": "number"}}}},
}


def test_every_bad_field_is_listed_by_its_pointer() -> None:
    check_schema(SCHEMA)
    with pytest.raises(DataInvalidError) as raised:
        check_data(SCHEMA, {"items": [{"price": "x"}, {"price": 1}, {"price": None}]})
    assert [e["field"] for e in raised.value.errors] == ["data/items/0/price", "data/items/2/price"]
    assert raised.value.field == "data/items/0/price" and raised.value.total == 2
    with pytest.raises(DataInvalidError) as many:
        check_data(SCHEMA, {"items": [{"price": "x"}] * 5000})
    assert len(many.value.errors) == 100 and many.value.total > 100
    weird = {"type": "object", "properties": {"a/b": {"properties": {"c~d": {"type": "string"}}}}}
    with pytest.raises(DataInvalidError) as escaped:
        check_data(weird, {"a/b": {"c~d": 1}}, "sample_data")
    assert escaped.value.errors[0]["field"] == "sample_data/a~1b/c~0d"
    check_data(None, {"anything": [1, 2]})  # no schema: any object


@pytest.mark.parametrize(
    ("schema", "good", "bad", "message"),
    [
        # Checked by the compiled validator first, then by jsonschema for the messages.
        (SCHEMA, {"items": [{"price": 2.5}]}, {"items": [{"price": "2"}]}, "is not of type"),
        (
            {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}},
            {"n": 3.0},  # 3.0 is an integer in JSON Schema, for both
            {"n": 4},
            "greater than the maximum",
        ),
        (
            {"type": "object", "properties": {"s": {"type": "string", "maxLength": 2}}},
            {"s": "åä"},  # two characters (four bytes)
            {"s": "åäö"},
            "is too long",
        ),
        # A pattern is read by jsonschema alone (regular expression dialects differ).
        (
            {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}}},
            {"code": "ABC"},
            {"code": "abc"},
            "does not match",
        ),
    ],
)
def test_data_fits_or_not_by_either_validator(
    schema: dict[str, Any], good: Any, bad: Any, message: str
) -> None:
    check_schema(schema)
    check_data(schema, good)
    with pytest.raises(DataInvalidError) as raised:
        check_data(schema, bad)
    assert message in raised.value.errors[0]["message"]
    assert raised.value.field.startswith("data/")


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ({"$ref": "https://example.com/schema.json"}, InvalidInputError),
        ({"properties": {"a": {"$ref": "file:///etc/passwd"}}}, InvalidInputError),
        ({"$dynamicRef": "http://127.0.0.1/x"}, InvalidInputError),
        ({"$id": "https://example.com/s"}, InvalidInputError),
        ({"type": 5}, InvalidInputError),
        ({"pattern": "a" * 2000}, InvalidInputError),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, InvalidInputError),
        ({"properties": {"a": {"description": "x" * 70_000}}}, PayloadTooLargeError),
    ],
)
def test_schemas_that_could_fetch_or_are_too_big_are_refused(
    schema: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        check_schema(schema)
    assert getattr(raised.value, "field", None) == "schema"


def test_a_deeply_nested_schema_is_refused() -> None:
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        deep = {"properties": {"a": deep}}
    with pytest.raises(InvalidInputError, match="nested"):
        check_schema(deep)


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("tpl_0193-ab", TemplateRef("tpl_0193-ab", None, None)),
        ("tpl_0193-ab@3", TemplateRef("tpl_0193-ab", None, 3)),
        ("invoice", TemplateRef(None, "invoice", None)),
        ("My invoice.v2@12", TemplateRef(None, "My invoice.v2", 12)),
    ],
)
def test_template_references(ref: str, parsed: TemplateRef) -> None:
    assert parse_template_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "@1", "x@", "x@0", "x@-1", "x@1.5", "x@99999999", "/etc"])
def test_bad_template_references(ref: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_template_ref(ref)
    assert raised.value.field == "template"


def test_a_template_job_keeps_a_copy_of_its_version() -> None:
    kept = TemplateInput("tpl_1", 4, MARKDOWN, "# {{ x }}", {"x": "é"}, preview=True)
    assert TemplateInput.from_text(kept.to_text()) == kept
    assert template_of_input(kept.to_text()) == {"id": "tpl_1", "version": 4}
    assert template_of_input("not json") is None

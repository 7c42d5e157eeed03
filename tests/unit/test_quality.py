"""The print-quality check's words and weights, and the `repair` option at the edge."""

from __future__ import annotations

import io
import random
import re
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from pydantic import ValidationError

from pdfprompt.api import create_app
from pdfprompt.api.schemas import JobIn
from pdfprompt.domain import (
    MAX_FINDINGS_PER_CODE,
    JobWarning,
    LayoutFinding,
    RenderOptions,
    blank_page_warning,
    layout_warnings,
    missing_glyphs_warning,
    quality_cost,
    quality_findings,
)
from pdfprompt.generate import REPAIR_REQUEST_MARK, repair_messages
from pdfprompt.pdf import quality
from pdfprompt.pdf.quality import printed_findings, shows_notdef
from pdfprompt.pipeline import render_key
from pdfprompt.settings import Settings


def test_a_print_with_lighter_or_fewer_findings_costs_less() -> None:
    overflow = JobWarning("overflow", "x")
    tiny = JobWarning("tiny_text", "x")
    refused = JobWarning("resource_refused", "x")
    assert quality_cost([refused]) == (0, 0)  # not the check's
    assert quality_cost([tiny]) < quality_cost([overflow])
    assert quality_cost([tiny]) < quality_cost([tiny, tiny])
    assert quality_findings([refused, tiny]) == (tiny,)


def test_many_findings_of_a_code_are_listed_then_counted() -> None:
    found = [LayoutFinding("overflow", f"div#n{i}", "words", "reaches 900 px") for i in range(8)]
    warnings = layout_warnings(found, {"overflow": 40})
    assert len(warnings) == MAX_FINDINGS_PER_CODE + 1
    assert "div#n0 ('words') reaches 900 px" in warnings[0].message
    assert warnings[-1].message == f"and {40 - MAX_FINDINGS_PER_CODE} more elements like these"


def test_page_findings_name_their_pages_and_characters() -> None:
    assert blank_page_warning([2]).message == "page 2 of the PDF prints nothing (blank page)"
    assert blank_page_warning([2, 5]).message.startswith("pages 2, 5 of the PDF print nothing")
    glyphs = missing_glyphs_warning(3, 2, ["\ue000", "\ue000"])
    assert (
        glyphs.message.startswith("page 3: 2 characters have no glyph")
        and "U+E000)" in glyphs.message
    )


def test_the_repair_request_carries_the_findings_the_fixes_and_the_document() -> None:
    asked = repair_messages("<html><body><p>x</p></body></html>", [JobWarning("tiny_text", "p")])
    request = asked[-1]["content"]
    assert REPAIR_REQUEST_MARK in request and "- [tiny_text] p" in request
    assert "7pt" in request and "overflow-wrap" not in request  # only the fixes that apply
    assert request.endswith("```html\n<html><body><p>x</p></body></html>\n```")


@pytest.mark.parametrize("value", ["no", 0, None, "false"])
def test_repair_takes_only_a_boolean(value: object) -> None:
    body = {"type": "prompt", "input": "x", "options": {"repair": value}}
    if value is None:
        assert "repair" not in JobIn.model_validate(body).options.stored()
        return
    with pytest.raises(ValidationError) as caught:
        JobIn.model_validate(body)
    assert caught.value.errors()[0]["loc"] == ("options", "repair")


def test_repair_is_stored_read_and_shapes_no_render() -> None:
    body = {"type": "prompt", "input": "x", "options": {"repair": False}}
    stored = JobIn.model_validate(body).options.stored()
    assert stored == {"repair": False}
    assert RenderOptions.from_dict(stored).repair is False and RenderOptions().repair is True
    key = render_key("u", "chromium", "<p>x</p>", RenderOptions())
    assert render_key("u", "chromium", "<p>x</p>", RenderOptions(repair=False)) == key


def test_the_openapi_document_describes_repair(tmp_path: Path) -> None:
    schemas = create_app(Settings(data_dir=tmp_path)).openapi()["components"]["schemas"]
    repair = schemas["OptionsIn"]["properties"]["repair"]
    assert {"type": "boolean"} in repair["anyOf"]


# What the PDF check looked for with one regular expression: glyph 0 at a glyph's place in
# a hex string. `shows_notdef` finds the same without trying every `<`.
NOTDEF_PATTERN = re.compile(rb"<(?:[0-9A-Fa-f]{4})*0000[0-9A-Fa-f]*>")


def test_glyph_zero_is_found_where_the_pattern_finds_it() -> None:
    cases = [
        (b"BT <00440000> Tj ET", True),
        (b"BT <0000> Tj ET", True),
        (b"<01000012> Tj", False),  # 0100 0012: the zeros straddle two glyphs
        (b"<00100001> Tj", False),  # 0010 0001: the same
        (b"<0100000012> Tj", True),  # 0100 0000 12: the second glyph is 0
        (b"<< /MCID 0 >> BDC <0000> Tj", True),
        (b"10000 0 0 1 0 0 cm <0044> Tj", False),
        (b"<0044 0000> Tj", False),  # a space inside: not glyph ids as Chromium writes them
        (b"<00440000", False),  # never closed
        (b"", False),
    ]
    for content, expected in cases:
        assert shows_notdef(content) is expected, content
        assert (NOTDEF_PATTERN.search(content) is not None) is expected, content
    rng = random.Random(20261205)
    alphabet = b"<<>>0000001a F\n"
    for _ in range(20_000):
        content = bytes(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert shows_notdef(content) is (NOTDEF_PATTERN.search(content) is not None), content


def test_glyph_zero_search_stays_linear_on_hostile_content() -> None:
    """Shapes that make a search from each `<`, or from each `0000`, look far: long runs of
    zeros, `<` everywhere, a string never closed, zeros far from any `<`."""
    for shape in [
        b"0" * 4_000_000,
        b"<" * 4_000_000,
        b"<" + b"0100" * 1_000_000,
        b"10000 " * 700_000,
        b"<0" * 2_000_000,
        (b"<" + b"01000012" * 1000 + b"> Tj\n") * 500,
    ]:
        started = time.process_time()
        assert shows_notdef(shape) is (NOTDEF_PATTERN.search(shape) is not None)
        assert time.process_time() - started < 5, shape[:20]


PAGES = (b"BT /F1 12 Tf <00440000> Tj ET", b"q 1 0 0 1 0 0 cm Q", b"BT /F1 12 Tf <0044> Tj ET")
Encode = Callable[[pikepdf.Pdf, bytes], pikepdf.Object]


def _flate(pdf: pikepdf.Pdf, data: bytes, **keys: object) -> pikepdf.Stream:
    stream = pikepdf.Stream(pdf, zlib.compress(data))
    stream.Filter = pikepdf.Name.FlateDecode
    for key, value in keys.items():
        stream[f"/{key}"] = value
    return stream


ENCODINGS: dict[str, Encode] = {
    "none": lambda pdf, data: pikepdf.Stream(pdf, data),
    "flate": _flate,
    "flate with parameters": lambda pdf, data: _flate(
        pdf, data, DecodeParms=pikepdf.Dictionary(Predictor=1)
    ),
    "flate in an array": lambda pdf, data: _flate(
        pdf, data, Filter=pikepdf.Array([pikepdf.Name.FlateDecode])
    ),
    "hex then flate": lambda pdf, data: pikepdf.Stream(
        pdf,
        zlib.compress(data).hex().encode() + b">",
        Filter=pikepdf.Array([pikepdf.Name.ASCIIHexDecode, pikepdf.Name.FlateDecode]),
    ),
    "two streams": lambda pdf, data: _split(pdf, data),
}


def _split(pdf: pikepdf.Pdf, data: bytes) -> pikepdf.Array:
    """The content as two streams, divided between two tokens (as a PDF may be)."""
    at = data.rfind(b" ", 0, len(data) // 2) + 1
    return pikepdf.Array([_flate(pdf, data[:at]), pikepdf.Stream(pdf, data[at:])])


def _printed(encode: Encode) -> bytes:
    pdf = pikepdf.new()
    pdf.docinfo["/Producer"] = "Skia/PDF m140"
    for content in PAGES:
        pdf.add_blank_page().obj.Contents = encode(pdf, content)
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def _inflations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the data zlib-ng is asked to inflate from now on."""
    sizes: list[int] = []
    inflate = quality.zlib_ng.decompress

    def counted(data: bytes) -> bytes:
        sizes.append(len(data))
        return inflate(data)

    monkeypatch.setattr(quality.zlib_ng, "decompress", counted)
    return sizes


EXPECTED = (blank_page_warning([2]), missing_glyphs_warning(1, 1, []))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_content_reads_the_same_however_its_streams_are_encoded(
    encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flate alone is inflated by zlib-ng, every other filter decoded by qpdf: the findings
    are the same (page 2 paints nothing; page 1 shows glyph 0, page 3 does not)."""
    inflated = _inflations(monkeypatch)
    assert printed_findings(_printed(ENCODINGS[encoding])) == EXPECTED
    assert len(inflated) == {"flate": 3, "two streams": 3}.get(encoding, 0)


def test_a_damaged_content_stream_is_read_as_far_as_it_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Flate data cut short (its checksum and last bytes): zlib-ng refuses it, qpdf reads
    it as far as it goes, which here is all the page says; never an error (the check never
    fails a job)."""

    def cut(pdf: pikepdf.Pdf, data: bytes) -> pikepdf.Object:
        stream = _flate(pdf, data)
        stream.write(zlib.compress(data)[:-6], filter=pikepdf.Name.FlateDecode)
        return stream

    inflated = _inflations(monkeypatch)
    assert printed_findings(_printed(cut)) == EXPECTED
    assert len(inflated) == 3


def test_contents_that_are_not_streams_hold_nothing() -> None:
    """A null or a number where a content stream belongs is no content, not an error."""
    pdf = pikepdf.new()
    pdf.docinfo["/Producer"] = "Skia/PDF m140"
    shown = _flate(pdf, b"BT /F1 12 Tf <0000> Tj ET")
    pdf.add_blank_page().obj.Contents = pikepdf.Array([None, 3, shown])
    pdf.add_blank_page().obj.Contents = 7
    out = io.BytesIO()
    pdf.save(out)
    assert printed_findings(out.getvalue()) == EXPECTED

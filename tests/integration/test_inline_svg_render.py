"""Inline SVG through the real sandboxed Chromium, JavaScript on: the hostile vectors, cleaned,
run nothing and reach nothing, while the chart beside them prints."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from pdfprompt.domain import RenderOptions
from pdfprompt.generate import clean_document
from pdfprompt.render import renderer_from_settings
from tests.support.assets import has_color
from tests.support.inline_svg import (
    CHART_COLORS,
    CHART_LABELS,
    RAN,
    bar_chart,
    hostile_inline_svgs,
)
from tests.support.receiver import Receiver
from tests.support.render import engine_settings, pdf_text


def _page(sections: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Inert</title></head><body><p>VISIBLE</p>"
        f"{bar_chart()}{sections}<p>THE END</p></body></html>"
    )


async def test_hostile_inline_svg_is_inert_in_the_sandbox(listener: Receiver) -> None:
    vectors = hostile_inline_svgs(listener.base + "/")
    # A vector that closes the body ends the document there: it gets a page of its own.
    closing = [f"<h3>{n}</h3>{v}" for n, v in vectors.items() if "</body>" in v]
    sections = "".join(f"<h3>{n}</h3>{v}" for n, v in vectors.items() if "</body>" not in v)
    # A control: with JavaScript on, a handler in SVG does run when nothing cleans it.
    live = f"<p>LIVE</p><svg onload=\"{RAN}\"><rect width='9' height='9'/></svg>"
    settings = engine_settings("chromium", allow_javascript=True, max_pdf_concurrency=1)
    async with renderer_from_settings(settings) as renderer:
        control = pdf_text((await renderer.render(live, RenderOptions())).data)
        chart = (await renderer.render(clean_document(_page("")), RenderOptions())).data
        pdf = (await renderer.render(clean_document(_page(sections)), RenderOptions())).data
        others = [
            pdf_text((await renderer.render(clean_document(_page(s)), RenderOptions())).data)
            for s in closing
        ]
    assert "PWNED" in control
    text = unicodedata.normalize("NFKC", pdf_text(pdf))
    assert "VISIBLE" in text and "THE END" in text
    for name in vectors:
        assert name in text or any(name in other for other in others), name
    assert "PWNED" not in text and not any("PWNED" in other for other in others)
    for label in CHART_LABELS:
        assert label in text
    # The vectors' own style sheets may paint every rect (`rect { fill: … }`): the chart's
    # colours are looked for on a page of its own.
    for color in CHART_COLORS.values():
        assert has_color(chart, color)
    assert listener.hits == []


async def test_long_words_links_and_codes_stay_inside_the_page(tmp_path: Path) -> None:
    """The base stylesheet wraps what has no space to break at: a word in a paragraph, a
    link and a hash in table cells; money in a narrow column stays on one line."""
    url = "https://example.com/" + "averyveryverylongpathsegment/" * 6 + "ENDOFURL.pdf"
    prose = "Consulting for the migration of the accounting platform, data cleansing " * 2
    body = (
        f"<p>{'x' * 150}ENDOFWORD</p><table><tr><th>Source</th><th>Note</th></tr>"
        f"<tr><td><a href='{url}'>{url}</a></td><td>link</td></tr>"
        f"<tr><td><code>sha256:{'ab12' * 30}ENDOFHASH</code></td><td>hash</td></tr></table>"
        "<table><tr><th>Description</th><th>Qty</th><th>Total</th></tr>"
        f"<tr><td>{prose}</td><td>3</td><td>€1,250.00</td></tr></table>"
    )
    document = clean_document(f"<html><head><title>Wide</title></head><body>{body}</body></html>")
    async with renderer_from_settings(engine_settings("chromium")) as renderer:
        pdf = (await renderer.render(document, RenderOptions())).data
    (tmp_path / "wide.pdf").write_bytes(pdf)
    boxes = subprocess.run(
        ["pdftotext", "-bbox", tmp_path / "wide.pdf", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    page_width = float(re.search(r'<page width="([\d.]+)"', boxes).group(1))  # type: ignore[union-attr]
    words = re.findall(r'xMax="([\d.]+)"[^>]*>([^<]*)</word>', boxes)
    assert words
    for x_max, word in words:
        assert float(x_max) <= page_width, word
    text = unicodedata.normalize("NFKC", pdf_text(pdf))
    for end in ("ENDOFWORD", "ENDOFURL", "ENDOFHASH"):
        assert end in text.replace("\n", "")
    assert any(word == "€1,250.00" for _, word in words)  # not broken in two


@pytest.mark.parametrize("engine", ["chromium", "weasyprint"])
async def test_a_chart_prints_on_either_engine(engine: str) -> None:
    document = clean_document(_page(""))
    async with renderer_from_settings(engine_settings(engine)) as renderer:
        pdf = (await renderer.render(document, RenderOptions())).data
    text = unicodedata.normalize("NFKC", pdf_text(pdf))
    for label in CHART_LABELS:
        assert label in text, label
    for color in CHART_COLORS.values():
        assert has_color(pdf, color), color

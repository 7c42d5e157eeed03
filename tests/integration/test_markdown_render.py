"""The Markdown feature document (tests/data/markdown/features.md) printed by Chromium and by
WeasyPrint, read back with pdftotext: the title page and contents with page numbers,
footnotes at the end,
math, callouts, tasks, the image from an asset, page breaks, the PDF's metadata and
language from the front matter, and the job's warning for the formula it could not take."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from pdfprompt.api import OptionsIn, options_with_front_matter
from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.pipeline import document_of
from pdfprompt.pipeline.render import contents_paged, finished
from pdfprompt.render import ASSET_ORIGIN, render_pdf, renderer_from_settings
from tests.support.render import engine_settings

FEATURES = Path(__file__).parents[1] / "data" / "markdown" / "features.md"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 60), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


def _pages(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f")[:-1]


@pytest.mark.parametrize("engine", ["chromium", "weasyprint"])
async def test_the_feature_document_prints_on_both_engines(engine: str, tmp_path: Path) -> None:
    text = FEATURES.read_text("utf-8")
    options = RenderOptions.from_dict(options_with_front_matter(text, OptionsIn()).stored())
    built = document_of(JobType.MARKDOWN, text, options)
    # The asset a job's owner uploaded, as the pipeline's asset loader hands it to the renderer.
    url = ASSET_ORIGIN + "ast_00000000-0000-0000-0000-000000000001"
    document = built.html.replace('src="asset:harbour-map"', f'src="{url}"')
    async with renderer_from_settings(engine_settings(engine, max_pdf_concurrency=1)) as renderer:
        rendered = await render_pdf(
            renderer, document, options, resources={url: (_png(), "image/png")}
        )
        paged = await contents_paged(renderer.name, document, options, rendered)
        if paged is not None:  # as the job pipeline does
            document = paged
            rendered = await render_pdf(
                renderer, document, options, resources={url: (_png(), "image/png")}
            )
    assert (paged is not None) == (engine == "chromium")
    rendered = await finished(rendered, document, options, watermark=False)
    assert [w.code for w in built.warnings] == ["math_unsupported"]
    assert rendered.warnings == ()  # the image was loaded

    pages = _pages(rendered.data, tmp_path)
    # Each page's words, without the page number the report theme prints in the corner.
    flat = [re.sub(r" \d+$", "", " ".join(page.split())) for page in pages]
    # The title page, then the contents on a page of their own.
    assert flat[0].startswith("Field Notes on the Harbour Survey Every Markdown feature")
    assert "Ada Lovelace, Grace Hopper 2026-12-05" in flat[0]
    assert flat[1].startswith("Contents 1 Text and typography")
    assert "9.1 Tide tables" in flat[1]
    # The page of each heading: WeasyPrint's target-counter, on Chromium a second render.
    assert re.search(r"1 Text and typography (\.+ ?)?3 2 Lists", flat[1]), flat[1]
    assert re.search(r"9 Appendix (\.+ ?)?5 9\.1 Tide tables (\.+ ?)?6$", flat[1]), flat[1]
    body = "\n".join(flat[2:])
    assert "Audit finished" in body and "[x]" not in body and "[ ]" not in body
    for title in ("Note", "Tip", "Important", "Warning", "Caution"):
        assert f"{title} " in body
    # MathML: Chromium prints mathematical italic letters, WeasyPrint the plain ones.
    assert "\u2211" in body and ("\U0001d6fc" in body or "\u03b1" in body)  # sum, alpha
    if engine == "chromium":  # MathML laid out: the radical of the ```math block is drawn
        assert "√" in body
    assert "\\unknowncommand{x}" in body
    assert "“straight quotes”" in body
    # Page breaks: the appendix and its last section each start a page; the footnotes close
    # the document.
    assert flat[-2].startswith("9 Appendix")
    assert flat[-1].startswith("9.1 Tide tables")
    assert flat[-1].endswith(
        "1. Multibeam sonar, calibrated every morning. "
        "2. The oldest way of measuring depth, kept as a check."
    )

    with pikepdf.open(io.BytesIO(rendered.data)) as pdf:
        info = pdf.docinfo
        assert str(info["/Title"]) == "Field Notes on the Harbour Survey"
        assert str(info["/Author"]) == "Ada Lovelace, Grace Hopper"
        assert str(info["/Keywords"]) == "survey, harbour, markdown"
        assert str(pdf.Root.Lang) == "en"
        assert "/Outlines" in pdf.Root  # toc: true makes the bookmarks too
        # The asset, once (WeasyPrint lists one set of resources on every page).
        images = {
            image.objgen
            for page in pdf.pages
            for image in page.get_images().values()
            if image.Width == 120
        }
        assert len(images) == 1

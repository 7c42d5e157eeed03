"""The renderer contract: what every engine does alike (Chromium's headless shell, a full
Chromium browser, WeasyPrint), run against each through the public `Renderer` protocol:
pages and their limits, page size and margins, tagging and the outline, the network sandbox
and what it refused, no JavaScript, headers and footers, large documents."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pypdf import PdfReader

from pdfprompt.domain import (
    InvalidInputError,
    JobType,
    Margin,
    PageLimitExceededError,
    RenderOptions,
)
from pdfprompt.pipeline import render_input
from pdfprompt.render import ChromiumRenderer, RendererPool, renderer_from_settings
from tests.support.bombs import noise_image, noise_png
from tests.support.receiver import Receiver
from tests.support.render import ENGINES, engine_settings, pdf_text


@pytest.fixture(params=ENGINES)
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(
        request.param, max_pdf_concurrency=2, max_pages=20, render_timeout_s=20
    )
    async with renderer_from_settings(settings) as r:
        assert r.name == settings.render_engine
        yield r


async def test_renders_text_and_counts_pages(renderer: RendererPool) -> None:
    body = "".join(f"<h2 style='break-before: page'>Part {i}</h2><p>text</p>" for i in range(3))
    out = await renderer.render(f"<html><body>{body}</body></html>", RenderOptions())
    assert out.data.startswith(b"%PDF-")
    assert out.pages == 3 == len(PdfReader(io.BytesIO(out.data)).pages)
    assert "Part 2" in pdf_text(out.data)


async def test_page_limit_is_permanent(renderer: RendererPool) -> None:
    body = "".join(f"<p style='break-before: page'>{i}</p>" for i in range(25))
    # Chromium prints one page past the limit and stops; WeasyPrint lays out every page.
    with pytest.raises(PageLimitExceededError, match=r"(has 25|more than 20) pages") as info:
        await renderer.render(body, RenderOptions())
    assert info.value.transient is False and info.value.code == "page_limit_exceeded"
    # A lower limit for this render (a plan's) holds too, with and without page ranges.
    with pytest.raises(PageLimitExceededError, match="the limit is 3"):
        await renderer.render(body, RenderOptions(), max_pages=3)
    with pytest.raises(PageLimitExceededError, match="the limit is 3"):
        await renderer.render(body, RenderOptions(page_ranges="20-22,2-3"), max_pages=3)
    # Under the limit nothing is cut: all 5 pages, then exactly the 3 asked for.
    five = "".join(f"<p style='break-before: page'>Page {i}</p>" for i in range(1, 6))
    assert (await renderer.render(five, RenderOptions(), max_pages=5)).pages == 5
    picked = await renderer.render(five, RenderOptions(page_ranges="5,1-2"), max_pages=3)
    assert picked.pages == 3
    assert [p.extract_text().strip() for p in PdfReader(io.BytesIO(picked.data)).pages] == [
        "Page 1",
        "Page 2",
        "Page 5",
    ]


async def test_a_document_far_over_the_page_limit_fails_without_being_laid_out_whole(
    renderer: RendererPool,
) -> None:
    """Chromium prints, and WeasyPrint lays out, one page past the limit and stops: a
    document of thousands of pages fails at once with page_limit_exceeded, where laying it
    out whole ran into the render timeout."""
    body = "<p style='break-before: page'>x</p>" * 5000
    with pytest.raises(PageLimitExceededError, match="more than 20 pages") as info:
        await renderer.render(body, RenderOptions())
    assert info.value.transient is False


async def test_page_ranges_past_the_end_are_skipped_and_none_is_refused(
    renderer: RendererPool,
) -> None:
    body = "".join(f"<p style='break-before: page'>Page {i}</p>" for i in range(1, 5))
    out = await renderer.render(body, RenderOptions(page_ranges="3-9"))
    assert out.pages == 2 and "Page 4" in pdf_text(out.data)
    with pytest.raises(InvalidInputError, match="picks no page") as info:
        await renderer.render(body, RenderOptions(page_ranges="7-9"))
    assert info.value.field == "options.page_ranges" and not info.value.transient


async def test_metadata_and_size_options(renderer: RendererPool) -> None:
    options = RenderOptions(
        width="100mm", height="150mm", title="T", author="A", subject="S", keywords="k1, k2"
    )
    out = await render_input(renderer, JobType.HTML, "<p>hi</p>", options)
    reader = PdfReader(io.BytesIO(out.data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (100, 150)
    meta = reader.metadata
    assert meta is not None
    assert (meta.title, meta.author, meta.subject, meta.get("/Keywords")) == (
        "T",
        "A",
        "S",
        "k1, k2",
    )


def _page_mm(pdf: bytes) -> tuple[int, int, int]:
    """The first page's width and height, and where its first text begins from the left,
    in mm."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    lefts: list[float] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: Any) -> None:
        if text.strip():
            lefts.append(tm[4] * cm[0] + cm[4])

    page.extract_text(visitor_text=visit)
    box = page.mediabox
    return tuple(round(float(v) / 72 * 25.4) for v in (box.width, box.height, lefts[0]))  # type: ignore[return-value]


async def test_the_request_names_the_page_and_the_document_fills_in_the_rest(
    renderer: RendererPool,
) -> None:
    own = (
        "<html><head><style>@page { size: letter landscape; margin: 0 }</style></head>"
        "<body style='margin: 0'><p style='margin: 0'>x</p></body></html>"
    )
    ten = Margin("10mm", "10mm", "10mm", "10mm")
    # Nothing named: the document's own @page size and margins (US Letter, landscape).
    assert _page_mm((await renderer.render(own, RenderOptions())).data) == (279, 216, 0)
    # What the request names wins, and the page is not the document's shrunk onto it.
    named = await renderer.render(own, RenderOptions(format="A5", margin=ten))
    assert _page_mm(named.data) == (148, 210, 10)
    assert _page_mm((await renderer.render(own, RenderOptions(landscape=True))).data) == (
        297,
        210,
        0,
    )
    sized = RenderOptions(width="100mm", height="50mm")
    assert _page_mm((await renderer.render(own, sized)).data)[:2] == (100, 50)
    # A document that names neither: A4 portrait, 16 mm margins.
    plain = "<body style='margin: 0'><p style='margin: 0'>x</p></body>"
    assert _page_mm((await renderer.render(plain, RenderOptions())).data) == (210, 297, 16)


def _structure(node: Any, found: list[str]) -> list[str]:
    """The structure types of a tagged PDF's element tree, in document order."""
    node = node.get_object() if hasattr(node, "get_object") else node
    if isinstance(node, dict):
        if "/S" in node:
            found.append(str(node["/S"]))
        if "/K" in node:
            _structure(node["/K"], found)
    elif isinstance(node, list):
        for child in node:
            _structure(child, found)
    return found


def _outline(entries: list[Any]) -> list[Any]:
    """The outline's titles, nested as in the PDF."""
    return [_outline(e) if isinstance(e, list) else str(e.title) for e in entries]


async def test_a_tagged_pdf_and_an_outline_only_when_asked(renderer: RendererPool) -> None:
    doc = (
        "<html lang='en'><body><h1>Alpha</h1><p>one</p><h2>Beta</h2><p>two</p>"
        "<h1 style='break-before: page'>Gamma</h1><p>three</p></body></html>"
    )

    async def read(options: RenderOptions) -> PdfReader:
        return PdfReader(
            io.BytesIO((await render_input(renderer, JobType.HTML, doc, options)).data)
        )

    plain = await read(RenderOptions())
    assert "/StructTreeRoot" not in plain.trailer["/Root"] and plain.outline == []

    tagged = await read(RenderOptions(tagged=True))
    root = tagged.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"]) and root["/Lang"] == "en"
    kinds = _structure(root["/StructTreeRoot"], [])
    assert [k for k in kinds if k in ("/H1", "/H2", "/P")] == [
        "/H1",
        "/P",
        "/H2",
        "/P",
        "/H1",
        "/P",
    ]
    assert tagged.outline == []

    # The outline nests as the headings do, and outlives the document information written
    # into the PDF after the render.
    outlined = await read(RenderOptions(outline=True, author="Ann"))
    assert _outline(outlined.outline) == ["Alpha", ["Beta"], "Gamma"]
    assert outlined.metadata is not None and outlined.metadata.author == "Ann"
    gamma = outlined.outline[2]
    assert outlined.get_destination_page_number(gamma) == 1


async def test_hostile_html_reaches_no_network_and_no_files(
    renderer: RendererPool, listener: Receiver
) -> None:
    url, hits = listener.base, listener.hits
    hostile = f"""<!DOCTYPE html><html><head>
      <link rel="stylesheet" href="{url}/style.css">
      <style>@import url("{url}/import.css");
        body {{ background: url("{url}/bg.png"); }}
        @font-face {{ font-family: X; src: url("{url}/font.woff2"); }}
        p {{ font-family: X; }}</style>
      <meta http-equiv="refresh" content="0; url={url}/refresh">
      </head><body>
      <p>visible text</p>
      <img src="{url}/img.png"><img srcset="{url}/srcset.png 2x">
      <picture><source srcset="{url}/source.png"><img src="{url}/pic.png"></picture>
      <iframe src="{url}/iframe"></iframe><object data="{url}/object"></object>
      <embed src="{url}/embed"><video poster="{url}/poster.png" src="{url}/v.mp4"></video>
      <svg><image href="{url}/svg.png" width="10" height="10"/></svg>
      <iframe src="file:///etc/passwd"></iframe><img src="file:///etc/passwd">
      <object data="file:///etc/passwd"></object>
      <audio src="{url}/a.mp3" autoplay></audio><video><source src="{url}/s.webm"></video>
      <svg><use href="{url}/sprite.svg#icon"/></svg>
      <form action="{url}/form" method="post"><input type="image" src="{url}/input.png">
      <button>send</button></form>
      <link rel="icon" href="{url}/favicon.ico"><link rel="preload" href="{url}/p.js" as="script">
      <link rel="prefetch" href="{url}/prefetch"><link rel="dns-prefetch" href="{url}">
      </body></html>"""
    out = await renderer.render(hostile, RenderOptions())
    text = pdf_text(out.data)
    assert "visible text" in text
    assert "root:" not in text and "SECRET-FROM-NETWORK" not in text
    assert hits == []
    if isinstance(renderer, ChromiumRenderer):  # every request was answered by the renderer
        assert renderer.blocked_requests > 0

    # A <base> makes every relative URL point outside; a frameset loads frames.
    based = f'<html><head><base href="{url}/"></head><body><p>based</p><img src="rel.png">'
    based += '<link rel="stylesheet" href="rel.css"></body></html>'
    frames = (
        f'<html><frameset cols="50%,50%"><frame src="{url}/f1"><frame src="file:///etc/passwd">'
    )
    frames += "</frameset></html>"
    for doc in (based, frames):
        out = await renderer.render(doc, RenderOptions())
        assert "root:" not in pdf_text(out.data)
    assert hits == []


async def test_what_was_not_loaded_is_told_as_a_warning(
    renderer: RendererPool, listener: Receiver
) -> None:
    url = listener.base
    pixel = "data:image/png;base64," + base64.b64encode(noise_png(2)).decode()
    doc = (
        f'<html><head><link rel="stylesheet" href="{url}/style.css"></head><body><p>logo:</p>'
        f'<img src="{url}/logo.png"><img src="{url}/logo.png"><img src="{pixel}"></body></html>'
    )
    out = await renderer.render(doc, RenderOptions())
    assert listener.hits == []
    assert {w.code for w in out.warnings} == {"resource_refused"}
    # Each address once, whatever asked for it how often; the data: URI was loaded.
    said = sorted(w.message.split()[2] for w in out.warnings)
    assert said == [f"{url}/logo.png", f"{url}/style.css"]
    assert "data: URIs" in out.warnings[0].message

    assert (await renderer.render(f"<img src='{pixel}'>", RenderOptions())).warnings == ()
    many = "".join(f"<img src='{url}/{i}.png'>" for i in range(15))
    told = (await renderer.render(many, RenderOptions())).warnings
    assert len(told) == 11 and told[-1].message == "and 5 more addresses were not loaded"


async def test_javascript_is_off(renderer: RendererPool) -> None:
    doc = "<p id=p>static</p><script>document.getElementById('p').textContent='scripted'</script>"
    text = pdf_text((await renderer.render(doc, RenderOptions())).data)
    assert "static" in text and "scripted" not in text


async def test_page_ranges_scale_and_header(renderer: RendererPool) -> None:
    body = "".join(f"<h2 style='break-before: page'>Chapter {i}</h2>" for i in range(1, 5))
    picked = await renderer.render(body, RenderOptions(page_ranges="2-3"))
    assert picked.pages == 2
    text = pdf_text(picked.data)
    assert "Chapter 2" in text and "Chapter 3" in text and "Chapter 1" not in text

    if renderer.name == "chromium":  # WeasyPrint has no scale
        long = "<p>" + "word " * 6000 + "</p>"
        full = await renderer.render(long, RenderOptions())
        small = await renderer.render(long, RenderOptions(scale=0.5))
        assert small.pages < full.pages

    footer = await renderer.render(
        body, RenderOptions(footer_html="<span>p. {{page}} / {{pages}}</span>")
    )
    assert "p. 3 / 4" in PdfReader(io.BytesIO(footer.data)).pages[2].extract_text()


async def test_a_large_document_and_pdf_cross_the_pipe_whole(renderer: RendererPool) -> None:
    """Megabytes each way: the document in, the PDF out, over many reads of the pipe."""
    doc = f"<p>before</p>{noise_image(700)}<p>after</p>"
    assert len(doc) > 1_500_000
    out = await renderer.render(doc, RenderOptions())
    assert len(out.data) > 1_000_000
    reader = PdfReader(io.BytesIO(out.data))
    assert "before" in pdf_text(out.data) and "after" in pdf_text(out.data)
    assert sum(len(page.images) for page in reader.pages) == 1

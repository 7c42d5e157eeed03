"""Real Chromium and real WeasyPrint: rendering, options, page limit and the network sandbox.

Tests taking `renderer` run on both engines; the sandbox must hold for each."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from pdfprompt.domain import (
    BrowserUnavailableError,
    InvalidInputError,
    JobType,
    PageLimitExceededError,
    RenderError,
    RenderOptions,
    RenderTimeoutError,
)
from pdfprompt.domain.options import Margin
from pdfprompt.pipeline import render_input
from pdfprompt.render import (
    MEMORY_CHECK_EVERY,
    ChromiumRenderer,
    RendererPool,
    chromium_renderer,
    renderer_from_settings,
)
from pdfprompt.settings import Settings
from tests.support.engines import ENGINES, engine_settings
from tests.support.receiver import Receiver


@pytest.fixture(params=ENGINES)
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(
        request.param, max_pdf_concurrency=2, max_pages=20, render_timeout_s=20
    )
    async with renderer_from_settings(settings) as r:
        assert r.name == settings.render_engine
        yield r


def _text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


async def test_renders_text_and_counts_pages(renderer: RendererPool) -> None:
    body = "".join(f"<h2 style='break-before: page'>Part {i}</h2><p>text</p>" for i in range(3))
    out = await renderer.render(f"<html><body>{body}</body></html>", RenderOptions())
    assert out.data.startswith(b"%PDF-")
    assert out.pages == 3 == len(PdfReader(io.BytesIO(out.data)).pages)
    assert "Part 2" in _text(out.data)


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
    assert out.pages == 2 and "Page 4" in _text(out.data)
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
    text = _text(out.data)
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
        assert "root:" not in _text(out.data)
    assert hits == []


async def test_what_was_not_loaded_is_told_as_a_warning(
    renderer: RendererPool, listener: Receiver
) -> None:
    url = listener.base
    pixel = "data:image/png;base64," + base64.b64encode(_noise_png(2)).decode()
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
    text = _text((await renderer.render(doc, RenderOptions())).data)
    assert "static" in text and "scripted" not in text


@pytest.mark.parametrize("engine", [e for e in ENGINES if e.startswith("chromium")])
async def test_frames_of_the_document_are_printed_on_either_build(engine: str) -> None:
    """The full browser prints a frame in another process through its print compositor; the
    headless shell has none. Inline and data: frames, sandboxed or not, print on both."""
    doc = (
        "<p>MAIN</p><iframe srcdoc='<p>INLINE</p>'></iframe>"
        "<iframe src='data:text/html,<p>DATAURL</p>'></iframe>"
        "<iframe sandbox srcdoc='<p>SANDBOXED</p>'></iframe>"
    )
    for javascript in (False, True):
        settings = engine_settings(engine, max_pdf_concurrency=1, allow_javascript=javascript)
        async with renderer_from_settings(settings) as renderer:
            text = _text((await renderer.render(doc, RenderOptions())).data)
        assert text.split() == ["MAIN", "INLINE", "DATAURL", "SANDBOXED"], javascript


def _layout_started_loads() -> str:
    """A document whose parts load only once it is laid out (object, embed, lazy image and
    frame) or decode late (a data: font), each with text or an image of its own."""

    def image() -> str:
        return "data:image/png;base64," + base64.b64encode(_noise_png(8)).decode()

    serif = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf").read_bytes()
    return (
        f"<style>@font-face {{ font-family: Own; src: url(data:font/ttf;base64,"
        f"{base64.b64encode(serif).decode()}); }} .own {{ font-family: Own; }}</style>"
        f"<p class=own>OWNFONT</p><object data='{image()}' type='image/png' width=20></object>"
        f"<embed src='{image()}' type='image/png' width=20><div style='height:3000px'></div>"
        f"<img loading=lazy src='{image()}' width=20>"
        "<iframe loading=lazy srcdoc='<p>LAZYFRAME</p>'></iframe>"
        "<object data='data:text/html,<p>OBJECTDOC</p>' type='text/html'></object>"
    )


def _pdf_summary(pdf: bytes) -> tuple[list[str], list[int], list[str]]:
    """Each page's words, each page's image count, and the fonts the PDF embeds."""
    reader = PdfReader(io.BytesIO(pdf))
    fonts: set[str] = set()
    for page in reader.pages:
        for font in page["/Resources"].get_object().get("/Font", {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return (
        [" ".join(page.extract_text().split()) for page in reader.pages],
        [len(page.images) for page in reader.pages],
        sorted(fonts),
    )


async def test_the_headless_shell_draws_no_frames_and_prints_what_a_drawn_page_prints() -> None:
    """Its pages draw no frames (a fifth of a render's CPU); loads that start only from a
    layout still end, and the PDF is the one a page drawing frames prints."""
    settings = engine_settings("chromium", max_pdf_concurrency=1, render_timeout_s=10)
    assert settings.chromium_path is not None
    doc = _layout_started_loads()
    # Alone, an SVG <use> of another document held the load forever until the page was laid
    # out (Chromium no longer shows a data: one, but still loads it).
    use = "<p>USE</p><svg><use href='data:image/svg+xml,<svg id=%22i%22/>#i'/></svg>"
    summaries = []
    for frameless in (True, False):
        async with ChromiumRenderer(
            settings.chromium_path, max_concurrency=1, timeout_s=10, frameless=frameless
        ) as renderer:
            summaries.append(_pdf_summary((await renderer.render(doc, RenderOptions())).data))
            assert _text((await renderer.render(use, RenderOptions())).data).strip() == "USE"
    assert summaries[0] == summaries[1]
    words, images, fonts = summaries[0]
    assert "OWNFONT" in words[0] and "LAZYFRAME OBJECTDOC" in words[-1]
    assert sum(images) == 3 and any("DejaVuSerif-Bold" in f for f in fonts)
    # Only the shell, and only with JavaScript off: a script may wait for a frame.
    assert chromium_renderer(settings).frameless
    assert not chromium_renderer(settings.model_copy(update={"allow_javascript": True})).frameless
    browser = engine_settings("chromium-browser")
    assert not chromium_renderer(browser).frameless


def _descendants(root: int) -> dict[int, str]:
    """Live processes below `root` (pid → command name), read from /proc."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":  # a zombie counts as left behind
            name += " <zombie>"
        parent[int(entry)], names[int(entry)] = int(fields[1]), name
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


async def test_a_killed_browser_is_replaced_and_nothing_is_left_behind() -> None:
    settings = Settings(max_pdf_concurrency=1, render_timeout_s=20)
    async with chromium_renderer(settings) as renderer:
        await renderer.render("<p>warm</p>", RenderOptions())
        chromium = [pid for pid, name in _descendants(os.getpid()).items() if "chrom" in name]
        assert chromium
        for pid in chromium:  # the whole browser, as an OOM kill would
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        try:
            await renderer.render("<p>during</p>", RenderOptions())
        except BrowserUnavailableError as exc:
            assert exc.transient  # the job on it is retried
        out = await renderer.render("<p>after the crash</p>", RenderOptions())
        assert "after the crash" in _text(out.data)
    await asyncio.sleep(0.5)
    left = {pid: name for pid, name in _descendants(os.getpid()).items() if "chrom" in name}
    assert left == {}


async def test_page_ranges_scale_and_header(renderer: RendererPool) -> None:
    body = "".join(f"<h2 style='break-before: page'>Chapter {i}</h2>" for i in range(1, 5))
    picked = await renderer.render(body, RenderOptions(page_ranges="2-3"))
    assert picked.pages == 2
    text = _text(picked.data)
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


def _descendants_running(marker: bytes) -> list[int]:
    """This process's live descendants whose command line contains `marker`."""
    found = []
    for pid in _descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker in fh.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def _page_processes() -> set[int]:
    """This process's Chromium renderer processes (one per page or per site)."""
    return set(_descendants_running(b"--type=renderer"))


def _spawned_renderers() -> list[int]:
    """This process's WeasyPrint pool processes (multiprocessing spawn children)."""
    return _descendants_running(b"spawn_main")


async def test_weasyprint_timeout_is_transient_and_the_pool_recovers() -> None:
    settings = Settings(render_engine="weasyprint", max_pdf_concurrency=1, render_timeout_s=1)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 40_000 + "</table>"
    async with renderer_from_settings(settings) as renderer:
        assert len(_spawned_renderers()) == 1
        with pytest.raises(RenderTimeoutError) as info:
            await renderer.render(slow, RenderOptions())
        assert info.value.transient
        out = await renderer.render("<p>after the timeout</p>", RenderOptions())
        assert "after the timeout" in _text(out.data)
    await asyncio.sleep(0.5)
    assert _spawned_renderers() == []


async def _cancel_while_another_renders(renderer: RendererPool, slow: str) -> None:
    """Start rendering `slow`, render a small document beside it, then cancel `slow`: the
    small one is done while `slow` still runs, and the cancelled render raises."""
    rendering = asyncio.create_task(renderer.render(slow, RenderOptions()))
    await asyncio.sleep(0.3)
    meanwhile = await renderer.render("<p>meanwhile</p>", RenderOptions())
    assert "meanwhile" in _text(meanwhile.data)
    assert not rendering.done()
    rendering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rendering


async def _both_render_slots_work(renderer: RendererPool) -> None:
    """Two renders at once both succeed: the pool is whole again."""
    outs = await asyncio.gather(
        *(renderer.render(f"<p>after {n}</p>", RenderOptions()) for n in range(2))
    )
    assert [f"after {n}" in _text(o.data) for n, o in enumerate(outs)] == [True, True]


async def test_a_cancelled_weasyprint_render_is_stopped_and_the_others_go_on() -> None:
    """Cancelling a job stops its render at once: its process is killed and replaced; a
    render in the other process is not touched."""
    settings = Settings(render_engine="weasyprint", max_pdf_concurrency=2, render_timeout_s=120)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 40_000 + "</table>"
    async with renderer_from_settings(settings) as renderer:
        before = set(_spawned_renderers())
        assert len(before) == 2
        await _cancel_while_another_renders(renderer, slow)
        after = set(_spawned_renderers())
        assert len(after) == 2 and len(before - after) == 1  # one process replaced
        await _both_render_slots_work(renderer)
    await asyncio.sleep(0.5)
    assert _spawned_renderers() == []


async def test_auto_falls_back_to_weasyprint_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on PATH
    monkeypatch.setattr("pdfprompt.settings.chromium.HEADLESS_SHELLS", ())
    monkeypatch.setattr("pdfprompt.settings.chromium.BROWSERS", ())
    caplog.set_level(logging.WARNING)
    async with renderer_from_settings(Settings(render_engine="auto")) as renderer:
        assert renderer.name == "weasyprint"
        out = await renderer.render("<p>fallback</p>", RenderOptions())
        assert "fallback" in _text(out.data)
    assert any("no Chromium found" in r.getMessage() for r in caplog.records)
    # A configured path that does not exist is reported, not replaced.
    with pytest.raises(BrowserUnavailableError, match="/nowhere/chromium"):
        renderer_from_settings(Settings(render_engine="auto", chromium_path="/nowhere/chromium"))


async def test_recycling_waits_for_renders_in_flight_and_leaves_nothing() -> None:
    """Browsers are replaced after `recycle_after` renders and above the memory bound; renders
    still running on a retired browser finish, and no Chromium process is left."""
    settings = Settings(
        render_engine="chromium",
        max_pdf_concurrency=2,
        browser_recycle_after=3,
        render_timeout_s=30,
    )
    async with chromium_renderer(settings) as renderer:
        docs = [f"<h1>doc {i}</h1>" + "<p>text</p>" * 200 for i in range(12)]
        outs = await asyncio.gather(*(renderer.render(d, RenderOptions()) for d in docs))
        for i, out in enumerate(outs):
            assert f"doc {i}" in _text(out.data)
        assert renderer.recycled >= 3

    by_memory = Settings(render_engine="chromium", max_pdf_concurrency=2, render_timeout_s=30)
    async with chromium_renderer(by_memory) as renderer:
        renderer.max_memory_mb = 1.0  # any browser is over this
        for _ in range(MEMORY_CHECK_EVERY + 1):
            await renderer.render("<p>small</p>", RenderOptions())
        await asyncio.sleep(0.5)  # the check runs beside the renders
        for _ in range(2):
            await renderer.render("<p>small</p>", RenderOptions())
        assert renderer.recycled >= 1
        assert 0 < await renderer.memory_mb() < 2048
    await asyncio.sleep(0.5)
    left = {pid: name for pid, name in _descendants(os.getpid()).items() if "chrom" in name}
    assert left == {}


async def test_a_chromium_render_over_its_time_or_cancelled_is_stopped_and_the_pool_goes_on() -> (
    None
):
    """The page of a render that runs over the timeout, or whose job is cancelled, is closed
    and replaced; the other page's render is not touched."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=2, render_timeout_s=1)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 60_000 + "</table>"
    async with chromium_renderer(settings) as renderer:
        with pytest.raises(RenderTimeoutError) as info:
            await renderer.render(slow, RenderOptions())
        assert info.value.transient
        out = await renderer.render("<p>after the timeout</p>", RenderOptions())
        assert "after the timeout" in _text(out.data)

        renderer.timeout_s = 120
        await _cancel_while_another_renders(renderer, slow)
        await _both_render_slots_work(renderer)
    await asyncio.sleep(0.5)
    left = {pid: name for pid, name in _descendants(os.getpid()).items() if "chrom" in name}
    assert left == {}


_HOLD = """
import asyncio, sys
from pdfprompt.domain import RenderOptions
from pdfprompt.render import chromium_renderer
from pdfprompt.settings import Settings

async def main() -> None:
    async with chromium_renderer(Settings(render_engine="chromium")) as renderer:
        await renderer.render("<p>x</p>", RenderOptions())
        print("ready", flush=True)
        if sys.argv[1] == "hold":
            await asyncio.sleep(120)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_worker_leaves_no_browser_and_its_profile_is_swept() -> None:
    """A worker killed with SIGKILL cannot close its browsers: they exit when their pipe
    closes, and the next worker to start a browser removes the dead one's profile."""
    held = subprocess.Popen(
        [sys.executable, "-c", _HOLD, "hold"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "ready"
        browsers = [pid for pid, name in _descendants(held.pid).items() if "chrom" in name]
        profiles = list(Path(tempfile.gettempdir()).glob(f"pdfprompt-chromium-{held.pid}-*"))
        assert browsers and len(profiles) == 1
    finally:
        held.kill()
        held.wait()
        if held.stdout is not None:
            held.stdout.close()
    for _ in range(100):
        if not any(_alive(pid) for pid in browsers):
            break
        threading.Event().wait(0.1)
    assert [pid for pid in browsers if _alive(pid)] == []
    assert profiles[0].exists()  # nothing could remove it yet
    once = subprocess.run(
        [sys.executable, "-c", _HOLD, "once"], capture_output=True, text=True, timeout=60
    )
    assert once.stdout.strip() == "ready", once.stderr
    assert not profiles[0].exists()


async def test_a_killed_page_process_fails_its_render_as_transient_and_the_pool_goes_on() -> None:
    """The kernel's OOM killer takes a page's renderer process, not the browser: the render on
    it fails at once as transient (not at the timeout), and the next render gets a new page."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=1, render_timeout_s=120)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 60_000 + "</table>"
    async with chromium_renderer(settings) as renderer:
        rendering = asyncio.create_task(renderer.render(slow, RenderOptions()))
        await asyncio.sleep(0.5)
        killed = 0
        for pid in _page_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        assert killed
        with pytest.raises(RenderError, match="crashed") as info:
            await asyncio.wait_for(rendering, 30)
        assert info.value.transient and not isinstance(info.value, RenderTimeoutError)
        out = await renderer.render("<p>after the crash</p>", RenderOptions())
        assert "after the crash" in _text(out.data)
        await renderer.check()  # the browser itself was never lost


async def test_a_chromium_that_will_not_start_is_reported_with_what_it_said(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "chromium"
    broken.write_text(
        "#!/bin/sh\necho 'chromium: error while loading shared libraries: libnss3.so' >&2\n"
        "exit 127\n"
    )
    broken.chmod(0o755)
    settings = Settings(render_engine="chromium", chromium_path=str(broken))
    with pytest.raises(BrowserUnavailableError, match=r"could not start Chromium.*libnss3\.so"):
        async with chromium_renderer(settings):
            pass
    assert not list(Path(tempfile.gettempdir()).glob(f"pdfprompt-chromium-{os.getpid()}-*"))


def _noise_png(side: int) -> bytes:
    """A PNG of random pixels: it does not compress, so the PDF carries all of it."""
    rows = b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_a_large_document_and_pdf_cross_the_pipe_whole(renderer: RendererPool) -> None:
    """Megabytes each way: the document in, the PDF out, over many reads of the pipe."""
    image = base64.b64encode(_noise_png(700)).decode()
    doc = f"<p>before</p><img src='data:image/png;base64,{image}' width=300><p>after</p>"
    assert len(doc) > 1_500_000
    out = await renderer.render(doc, RenderOptions())
    assert len(out.data) > 1_000_000
    reader = PdfReader(io.BytesIO(out.data))
    assert "before" in _text(out.data) and "after" in _text(out.data)
    assert sum(len(page.images) for page in reader.pages) == 1


async def test_a_render_over_its_time_does_not_go_on_burning_cpu() -> None:
    """Stopping a render closes its page, and the process laying the page out goes with it:
    a hostile document costs its timeout, not its whole layout."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=1, render_timeout_s=1)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 200_000 + "</table>"
    async with chromium_renderer(settings) as renderer:
        rendering = asyncio.create_task(renderer.render(slow, RenderOptions()))
        await asyncio.sleep(0.5)
        busy = _page_processes()
        assert busy
        with pytest.raises(RenderTimeoutError):
            await rendering
        for _ in range(100):
            if not busy & {pid for pid in _page_processes() if _alive(pid)}:
                break
            await asyncio.sleep(0.1)
        assert not busy & {pid for pid in _page_processes() if _alive(pid)}


async def test_with_javascript_allowed_a_workers_requests_are_refused_too(
    listener: Receiver,
) -> None:
    """A worker is a target of its own: it is attached and held until it follows the page's
    rules, so what it fetches is refused like the page's own requests."""
    settings = Settings(render_engine="chromium", allow_javascript=True, max_pdf_concurrency=1)
    script = f"fetch('{listener.base}/from-worker').catch(() => 0)"
    doc = (
        "<p>page</p><script>new Worker(URL.createObjectURL("
        f"new Blob([{script!r}], {{type: 'text/javascript'}})));</script>"
    )
    async with chromium_renderer(settings) as renderer:
        await renderer.render(doc, RenderOptions())
        for _ in range(50):  # the worker runs on after the load event
            if renderer.blocked_requests:
                break
            await asyncio.sleep(0.1)
        assert renderer.blocked_requests == 1
    assert listener.hits == []

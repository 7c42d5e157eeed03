"""Markdown benchmark: the Markdown → HTML step against the render it feeds.

    scripts/bench.sh markdown [--rounds 10] [--engines chromium,weasyprint]

The 20-page corpus report written as Markdown (bench/corpus/report20.md: the same headings,
paragraphs, lists, quotes and tables as bench/corpus/report20.html) is converted by the
function the worker runs (`pipeline.document_of`: front matter, parsing, highlighting,
math, the theme's stylesheets) `--rounds` times after a first, warming call; its HTML is
then rendered `--rounds` times by each engine through a warm pool (`render_pdf`, as a job
renders it). For scale, two parsers are timed on the same text: comrak alone (parsing and
writing HTML with pdfprompt's options, before pdfprompt's passes over its output), and
markdown-it-py configured as pdfprompt used it before comrak (CommonMark, typographer,
tables, strikethrough, GitHub autolinks, footnotes, definition lists, task lists, dollar
math, heading anchors; without pdfprompt's render rules, whose highlighting and MathML are
the same with either parser). All are wall-clock medians in this one process, so the ratio
compares figures taken on the same machine in the same run; on a shared machine each is
noisy. The target: Markdown → HTML under 5 % of the render.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import comrak

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.generate.markdown.parser import comrak_options, slug
from pdfprompt.generate.markdown.typography import quotes_for
from pdfprompt.pipeline import document_of
from pdfprompt.render import find_headless_shell, render_pdf, renderer_from_settings
from pdfprompt.settings import Settings

REPORT = Path(__file__).parent / "corpus" / "report20.md"


def _timed(convert: Callable[[str], object], text: str, rounds: int) -> list[float]:
    convert(text)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        convert(text)
        times.append(time.perf_counter() - started)
    return times


def comrak_times(text: str, rounds: int) -> list[float]:
    """comrak's parsing and HTML with pdfprompt's options, before pdfprompt's passes."""
    extensions, parse, render = comrak_options()
    return _timed(lambda t: comrak.render_markdown(t, extensions, parse, render), text, rounds)


def markdown_it_times(text: str, rounds: int) -> list[float] | None:
    """markdown-it-py as pdfprompt configured it before comrak (None when it is not
    installed: `scripts/bench.sh` installs the `bench` extra, which has it)."""
    try:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.anchors import anchors_plugin
        from mdit_py_plugins.deflist import deflist_plugin
        from mdit_py_plugins.dollarmath import dollarmath_plugin
        from mdit_py_plugins.footnote import footnote_plugin
        from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin
        from mdit_py_plugins.tasklists import tasklists_plugin
    except ImportError:
        return None
    md = MarkdownIt(
        "commonmark", {"html": False, "typographer": True, "quotes": list(quotes_for(""))}
    ).enable(["table", "strikethrough", "replacements", "smartquotes"])
    gfm_autolink_plugin(md)
    footnote_plugin(md)
    deflist_plugin(md)
    tasklists_plugin(md, enabled=False)
    dollarmath_plugin(
        md, allow_labels=True, allow_space=True, allow_digits=False, double_inline=True
    )
    anchors_plugin(md, min_level=1, max_level=6, slug_func=slug)
    return _timed(md.render, text, rounds)


def convert_times(text: str, rounds: int) -> tuple[list[float], str]:
    options = RenderOptions()
    document = document_of(JobType.MARKDOWN, text, options).html  # warms the parser
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        document = document_of(JobType.MARKDOWN, text, options).html
        times.append(time.perf_counter() - started)
    return times, document


async def render_times(engine: str, document: str, rounds: int) -> tuple[list[float], int]:
    if engine == "weasyprint":
        settings = Settings(render_engine="weasyprint", max_pdf_concurrency=1)
    else:
        settings = Settings(
            render_engine="chromium", chromium_path=find_headless_shell(), max_pdf_concurrency=1
        )
    times, pages = [], 0
    async with renderer_from_settings(settings) as renderer:
        await render_pdf(renderer, document, RenderOptions())  # a warm tab or process
        for _ in range(rounds):
            started = time.perf_counter()
            rendered = await render_pdf(renderer, document, RenderOptions())
            times.append(time.perf_counter() - started)
            pages = rendered.pages
    return times, pages


def _versions(*names: str) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--engines", default="chromium,weasyprint")
    args = parser.parse_args()
    text = REPORT.read_text("utf-8")
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{_versions('comrak', 'markdown-it-py', 'mdit-py-plugins', 'pygments')}"
    )
    print(f"document: {REPORT.name}, {len(text):,} characters; {args.rounds} rounds each")
    converted, document = convert_times(text, args.rounds)
    markdown_s = statistics.median(converted)
    print(f"\n{'step':28} {'median s':>9} {'max s':>8} {'pages':>6} {'Markdown share':>15}")
    print(f"{'Markdown -> HTML':28} {markdown_s:9.4f} {max(converted):8.4f} {'':>6} {'':>15}")
    alone = comrak_times(text, args.rounds)
    print(f"{'  comrak alone':28} {statistics.median(alone):9.4f} {max(alone):8.4f}")
    before = markdown_it_times(text, args.rounds)
    if before is None:
        print(f"{'  markdown-it-py (before)':28} not installed: scripts/bench.sh installs it")
    else:
        print(
            f"{'  markdown-it-py (before)':28} {statistics.median(before):9.4f} {max(before):8.4f}"
        )
    for engine in args.engines.split(","):
        rendered, pages = asyncio.run(render_times(engine, document, args.rounds))
        render_s = statistics.median(rendered)
        share = 100 * markdown_s / render_s
        print(
            f"{'render (' + engine + ')':28} {render_s:9.4f} {max(rendered):8.4f} {pages:6} "
            f"{share:14.1f}%"
        )
    print("\ntarget: Markdown -> HTML under 5 % of the render (the share above)")


if __name__ == "__main__":
    main()

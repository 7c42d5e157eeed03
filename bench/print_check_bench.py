"""The print check's PDF half: CPU milliseconds per document, read two ways side by side.

    scripts/bench.sh print_check [--rounds 200]

Each corpus document (bench/corpus: a 1-page invoice, 5- and 20-page reports) is rendered
once with Chromium as a job renders it (`render_input`; with default options finishing
leaves the bytes as printed, which the worker checks), then `printed_findings` (what the
worker runs on every new render) is called on it `--rounds` times, alternating between the
way it reads content streams (Flate alone inflated by zlib-ng) and qpdf's own decoding of
every stream (how it read them before), and each call's CPU time is taken
(`time.process_time`: pikepdf, qpdf and zlib-ng in this process, no child process). The
median of each is printed, with the findings (the same both ways, or the bench fails).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pikepdf

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.pdf import printed_findings, quality
from pdfprompt.pipeline import render_input
from pdfprompt.render import chromium_renderer
from pdfprompt.settings import Settings

CORPUS = Path(__file__).resolve().parent / "corpus"
DOCUMENTS = ("invoice", "report5", "report20")


def _by_qpdf(stream: pikepdf.Stream) -> bytes:
    return bytes(stream.read_bytes())


@contextmanager
def qpdf_decoding() -> Iterator[None]:
    """Within: every content stream decoded by qpdf."""
    ours = quality._decoded
    quality._decoded = _by_qpdf
    try:
        yield
    finally:
        quality._decoded = ours


def cpu_ms(call: Callable[[], object]) -> float:
    started = time.process_time()
    call()
    return (time.process_time() - started) * 1000


async def rendered() -> dict[str, bytes]:
    async with chromium_renderer(Settings(max_pdf_concurrency=1)) as renderer:
        return {
            name: (
                await render_input(
                    renderer, JobType.HTML, (CORPUS / f"{name}.html").read_text(), RenderOptions()
                )
            ).data
            for name in DOCUMENTS
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    pdfs = asyncio.run(rendered())
    print(f"{platform.node()}, Python {platform.python_version()}, {args.rounds} rounds\n")
    print("| document | pages | zlib-ng, ms | qpdf, ms | qpdf ÷ zlib-ng | findings |")
    print("|---|---|---|---|---|---|")
    for name, pdf in pdfs.items():
        with qpdf_decoding():
            expected = printed_findings(pdf)
        if printed_findings(pdf) != expected:
            raise SystemExit(f"{name}: the two ways found different things")
        ours: list[float] = []
        theirs: list[float] = []
        for round_ in range(args.rounds):  # each way first in every other round
            if round_ % 2:
                ours.append(cpu_ms(partial(printed_findings, pdf)))
            with qpdf_decoding():
                theirs.append(cpu_ms(partial(printed_findings, pdf)))
            if not round_ % 2:
                ours.append(cpu_ms(partial(printed_findings, pdf)))
        a, b = statistics.median(ours), statistics.median(theirs)
        with pikepdf.open(io.BytesIO(pdf)) as opened:
            pages = len(opened.pages)
        codes = ", ".join(w.code for w in expected) or "none"
        print(f"| {name} | {pages} | {a:.2f} | {b:.2f} | {b / a:.2f} | {codes} |")


if __name__ == "__main__":
    main()

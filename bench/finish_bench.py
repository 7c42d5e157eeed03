"""Finishing benchmark: CPU seconds per document for each finishing step.

    scripts/bench.sh finish [--rounds 20]

The 5-page corpus document (bench/corpus/report5.html) is rendered once with Chromium as a
job renders it (`render_input`; tagged for the PDF/UA step, as a `pdfua` job asks), then
each step is applied to it on its own, `--rounds` times, through the function the worker
runs (`pdfprompt.pdf.finish_document`: the PDF read once, the steps, the PDF written once),
and the process's CPU time of each call is taken (`time.process_time`: the steps are Python,
pikepdf and qpdf in this process, no child process). `read + write` is the cost every
finishing job pays (the file read and written with nothing done); each step's own cost is
its figure less that one. The first call of a text mark also cuts the font (cached after):
shown apart as `first text mark`.

Signing is not measured here (it is its own benchmark's, where the signer lives).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pikepdf
from PIL import Image

from pdfprompt.domain import JobType, Mark, Protection, RenderOptions
from pdfprompt.pdf import (
    PLAN_MARK,
    PLAN_MARK_MARGIN_PT,
    AttachedFile,
    FinishSteps,
    MarkImage,
    MarkStep,
    conformance,
    finish_document,
    read_document,
)
from pdfprompt.pipeline import render_input
from pdfprompt.render import renderer_from_settings
from pdfprompt.settings import Settings

CORPUS = Path(__file__).resolve().parent / "corpus"


async def _render(document: str, *, tagged: bool) -> bytes:
    async with renderer_from_settings(Settings()) as renderer:
        rendered = await render_input(
            renderer, JobType.HTML, document, RenderOptions(tagged=tagged)
        )
    return rendered.data


def _logo() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (240, 120), (31, 78, 121, 200)).save(out, "PNG")
    return out.getvalue()


def _data() -> tuple[bytes, bytes]:
    rows = [{"region": f"region {n}", "total": n * 17, "share": n / 100} for n in range(200)]
    csv = "region,total,share\n" + "".join(
        f"{r['region']},{r['total']},{r['share']}\n" for r in rows
    )
    return json.dumps({"rows": rows}).encode(), csv.encode()


def _steps(document: str) -> dict[str, tuple[bool, FinishSteps]]:
    """Each case: (needs the tagged render, the steps)."""
    data_json, data_csv = _data()
    text = Mark(text="DRAFT", font_size=96, color="#cc0000", opacity=0.2, angle=45)
    image = Mark(image="logo", width="60mm", opacity=0.5, position="top-right", angle=0)
    attachments = (
        AttachedFile("data.json", data_json, "application/json", "the report's data"),
        AttachedFile("data.csv", data_csv, "text/csv", relationship="Source"),
    )
    about = read_document(document)
    return {
        "read + write": (False, FinishSteps()),
        "watermark (text)": (False, FinishSteps(marks=(MarkStep(text, False, "w"),))),
        "stamp (text)": (False, FinishSteps(marks=(MarkStep(text, True, "s"),))),
        "watermark (image)": (
            False,
            FinishSteps(marks=(MarkStep(image, False, "w", MarkImage(_logo(), "image/png")),)),
        ),
        "plan watermark": (
            False,
            FinishSteps(marks=(MarkStep(PLAN_MARK, True, "p", margin_pt=PLAN_MARK_MARGIN_PT),)),
        ),
        "attachments (2 files, 23 KB)": (False, FinishSteps(attachments=attachments)),
        "pdfa 2b (with its check)": (False, FinishSteps(pdfa="2b")),
        "pdfa 3b + attachments": (False, FinishSteps(attachments=attachments, pdfa="3b")),
        "pdfua": (True, FinishSteps(pdfua=about)),
        "encrypt (AES-256)": (
            False,
            FinishSteps(protection=Protection(user_password="user", owner_password="owner")),
        ),
        "all but encrypt and sign": (
            True,
            FinishSteps(
                marks=(
                    MarkStep(text, False, "w"),
                    MarkStep(PLAN_MARK, True, "p", margin_pt=PLAN_MARK_MARGIN_PT),
                ),
                attachments=attachments,
                pdfa="3b",
                pdfua=about,
            ),
        ),
    }


def _cpu(call: Callable[[], object], rounds: int) -> list[float]:
    spent = []
    for _ in range(rounds):
        start = time.process_time()
        call()
        spent.append(time.process_time() - start)
    return spent


def _version(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.split(
            "\n"
        )[0]
    except OSError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    document = (CORPUS / "report5.html").read_text("utf-8")
    plain = asyncio.run(_render(document, tagged=False))
    tagged = asyncio.run(_render(document, tagged=True))
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        pages = len(pdf.pages)
    cpu = platform.processor() or platform.machine()
    gs = _version(["gs", "--version"])
    ghostscript = gs and f"Ghostscript {gs}"
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, {cpu}, "
        f"Python {platform.python_version()}, pikepdf {pikepdf.__version__} (qpdf "
        f"{pikepdf.__libqpdf_version__}), {ghostscript}"
    )
    print(
        f"document: report5.html, {pages} pages; rendered {len(plain):,} bytes, "
        f"tagged {len(tagged):,} bytes; {args.rounds} rounds per case\n"
    )
    # The first text mark cuts the font (DejaVu Sans) to the characters used.
    first_mark = _steps(document)["watermark (text)"][1]
    first = _cpu(lambda: finish_document(plain, first_mark), 1)[0]
    rows = []
    base = 0.0
    for name, (needs_tags, steps) in _steps(document).items():
        source = tagged if needs_tags else plain
        spent = _cpu(lambda s=steps, d=source: finish_document(d, s), args.rounds)
        out, _ = finish_document(source, steps)
        problems = conformance(
            out,
            pdfa=steps.pdfa,
            pdfua=steps.pdfua is not None,
            password="user" if steps.protection else "",
        )
        assert problems == [], (name, problems)
        median = statistics.median(spent)
        if name == "read + write":
            base = median
        rows.append((name, median, max(spent), median - base, len(out)))
    print(f"{'step':32} {'CPU s/doc':>10} {'max':>8} {'step alone':>11} {'PDF bytes':>11}")
    for name, median, worst, alone, size in rows:
        own = "-" if name == "read + write" else f"{alone:.4f}"
        print(f"{name:32} {median:10.4f} {worst:8.4f} {own:>11} {size:11,}")
    print(f"{'first text mark (font cut)':32} {first:10.4f}")


if __name__ == "__main__":
    main()

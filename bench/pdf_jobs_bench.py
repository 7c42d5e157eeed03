"""PDF jobs benchmark: what one operation on PDFs a user brings costs, and how fast a hostile
PDF is refused.

    .venv/bin/python bench/pdf_jobs_bench.py [--rounds 5]

Each operation runs as the worker runs it: `PdfWorkshop` (pdf/workshop.py) starts a child
process with the default limits (`PdfLimits`: 1 GiB of address space, CPU and wall-clock
caps), which checks the PDFs, does the work with pikepdf and draws the thumbnail. Shown per
case: the median wall time of `--rounds` runs, the children's CPU (user + system) per run,
and the largest resident memory any child reached so far (the cases run from the smallest
to the largest). The PDFs are made here: text pages (`text_pdf`), a Flate stream of 2 GiB
of zeros (2 MB of file), the same deflated twice (8 GiB, 14 KB), 100,000 pages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pdfs import MB, bomb_pdf, many_pages_pdf, text_pdf

from pdfprompt.domain import PdfLimits, PdfPromptError
from pdfprompt.pdf import PdfPart, PdfWorkshop


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def _measure(run: Callable[[], Awaitable[str]], rounds: int) -> tuple[float, float, str]:
    walls, cpus, outcome = [], [], ""
    for _ in range(rounds):
        cpu, wall = _children_cpu_s(), time.perf_counter()
        outcome = await run()
        walls.append(time.perf_counter() - wall)
        cpus.append(_children_cpu_s() - cpu)
    return statistics.median(walls), statistics.median(cpus), outcome


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workshop = PdfWorkshop(PdfLimits())
    one = text_pdf(1, "One")
    fifty = text_pdf(50, "Fifty")
    hundred = text_pdf(100, "Hundred")
    bomb, double, huge = bomb_pdf(), bomb_pdf(8192 * MB, twice=True), many_pages_pdf(100_000)

    def ok(make: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            try:
                await make()
            except PdfPromptError as exc:
                return exc.code
            return "made"

        return run

    cases: list[tuple[str, Callable[[], Awaitable[str]]]] = [
        ("thumbnail of 1 page", ok(lambda: workshop.thumbnail(one))),
        ("pdf: 1 page", ok(lambda: workshop.rewrite(PdfPart(one, "one"), {}))),
        (
            "merge: 2 x 50 pages",
            ok(lambda: workshop.merge([PdfPart(fifty, "a"), PdfPart(fifty, "b")], {})),
        ),
        (
            "split: 100 pages into 10",
            ok(
                lambda: workshop.split(
                    PdfPart(hundred, "h"), ",".join(f"{n}-{n + 9}" for n in range(1, 100, 10)), {}
                )
            ),
        ),
        ("refuse: Flate bomb, 2 GiB", ok(lambda: workshop.rewrite(PdfPart(bomb, "b"), {}))),
        ("refuse: 100,000 pages", ok(lambda: workshop.rewrite(PdfPart(huge, "h"), {}))),
        ("refuse: double Flate, 8 GiB", ok(lambda: workshop.rewrite(PdfPart(double, "d"), {}))),
    ]
    print(f"python {platform.python_version()}, {platform.platform()}, {os.cpu_count()} CPUs")
    print(f"{args.rounds} rounds per case, the median shown\n")
    print(f"| {'case':<30} | {'outcome':<20} | wall s | child CPU s | child peak MB |")
    print(f"|{'-' * 32}|{'-' * 22}|-------:|------------:|--------------:|")
    for name, run in cases:
        wall, cpu, outcome = await _measure(run, args.rounds)
        peak = _children_peak_mb()
        print(f"| {name:<30} | {outcome:<20} | {wall:6.2f} | {cpu:11.2f} | {peak:13.0f} |")


if __name__ == "__main__":
    asyncio.run(main())

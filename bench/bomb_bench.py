"""Render bombs: small documents that make a renderer write a huge PDF or use a lot of memory,
and what rendering one costs the worker's process tree.

    scripts/bench.sh bomb [--cases chromium:noise20,...] [--before REV]

Each case renders one bomb in a process of its own (so that one case's peak does not carry
into the next), with the limits the environment sets (PDFPROMPT_MAX_PDF_MB,
PDFPROMPT_RENDER_MEMORY_LIMIT_MB; their defaults when unset). A thread samples every 10 ms the
Python process's resident memory, and its descendants' (the browser or the WeasyPrint
processes): their resident memory summed, and what they hold of their own (RssAnon +
RssShmem, what the render memory limit counts). `worker tree` is the largest sum of the two
seen at one sample.

Bombs:
- noise20: 20 A4 pages of SVG noise (`feTurbulence`), 4.5 KB of HTML; Chromium rasterizes the
  filter into the PDF at 300 dpi, about 30 MB a page.
  Render timeout 120 s, so that the print ends even before the limits.
- noise20-plan5mb: the same under a plan allowing 5 MB files (the `starter` plan's limit).
- table29k: a table of 29,000 rows, 1 MB of HTML (under PDFPROMPT_MAX_INPUT_BYTES), whose
  layout holds gigabytes in Chromium. Render timeout 30 s, the default.
- image: two PNGs of 9000 x 9000 black pixels, 630 KB of HTML that decode to 243 MB each.
  Render timeout 30 s.

`--before REV` runs every case on that commit's code too (`git archive`), before the code of
the work tree, for a table of both in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
CASES = (
    "chromium:noise20",
    "chromium:noise20-plan5mb",
    "chromium:table29k",
    "chromium-browser:noise20",
    "chromium-browser:noise20-plan5mb",
    "chromium-browser:table29k",
    "weasyprint:image",
)
MB = 1024 * 1024


def noise_pages(pages: int) -> str:
    sheet = (
        "<svg width=794 height=1123 style='display:block;break-after:page'>"
        "<filter id=f{i} x=0 y=0 width=1 height=1>"
        "<feTurbulence baseFrequency=0.9 numOctaves=1 seed={i} /></filter>"
        "<rect width=794 height=1123 filter='url(#f{i})' /></svg>"
    )
    return "<style>@page { margin: 0 } body { margin: 0 }</style>" + "".join(
        sheet.format(i=i) for i in range(pages)
    )


def black_png(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    packer = zlib.compressobj(9)
    row = b"\x00" * (side * 3 + 1)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = side.to_bytes(4, "big") * 2 + bytes((8, 2, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def bomb(name: str) -> tuple[str, int | None, float]:
    """The document, the plan's byte limit (None: no plan limit) and the render timeout of
    a bomb."""
    if name.startswith("noise20"):
        return noise_pages(20), (5 * MB if name.endswith("plan5mb") else None), 120.0
    if name == "table29k":
        return "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 29_000 + "</table>", None, 30.0
    data = base64.b64encode(black_png(9000)).decode()
    images = "".join(
        f"<img src='data:image/png;base64,{data}#{i}' style='width: 100px'>" for i in range(2)
    )
    return images, None, 30.0


def _held_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            status = fh.read()
    except OSError:
        return 0
    total = 0
    for name in (b"RssAnon:", b"RssShmem:"):
        at = status.find(name)
        if at >= 0:
            total += int(status[at + len(name) : status.find(b"\n", at)].split()[0])
    return total


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.stop = threading.Event()
        self.peaks = {"python": 0, "children": 0, "children_held": 0, "tree": 0}

    def run(self) -> None:
        while not self.stop.is_set():
            python = self.me.memory_info().rss
            rss = held = 0
            for child in self.me.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    continue
                held += _held_kb(child.pid) * 1024
            for key, value in (
                ("python", python),
                ("children", rss),
                ("children_held", held),
                ("tree", python + rss),
            ):
                self.peaks[key] = max(self.peaks[key], value)
            self.stop.wait(0.01)


async def run_case(case: str) -> dict[str, Any]:
    """Runs in its own process: render one bomb, return what it cost."""
    from pdfprompt.domain import RenderOptions
    from pdfprompt.render import find_browser, find_headless_shell, renderer_from_settings
    from pdfprompt.settings import Settings

    engine, name = case.split(":")
    document, plan_bytes, timeout_s = bomb(name)
    values: dict[str, Any] = {"max_pdf_concurrency": 1, "render_timeout_s": timeout_s}
    if engine == "weasyprint":
        settings = Settings(render_engine="weasyprint", **values)
    else:
        path = find_headless_shell() if engine == "chromium" else find_browser()
        settings = Settings(render_engine="chromium", chromium_path=path, **values)
    async with renderer_from_settings(settings) as renderer:
        await renderer.render("<p>warm</p>", RenderOptions())
        takes_limit = "max_bytes" in inspect.signature(renderer.render).parameters
        sampler = Sampler()
        sampler.start()
        started = time.monotonic()
        try:
            if takes_limit:
                out = await renderer.render(document, RenderOptions(), None, plan_bytes)
            else:  # before the limit: the pipeline checked the size of the whole PDF
                out = await renderer.render(document, RenderOptions())
            outcome = f"PDF {len(out.data) / MB:.0f} MB"
            if plan_bytes is not None and len(out.data) > plan_bytes:
                outcome = f"file_too_large after the whole {outcome}"
        except Exception as exc:
            outcome = getattr(exc, "code", type(exc).__name__)
        seconds = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
    return {"case": case, "outcome": outcome, "seconds": seconds, **sampler.peaks}


def code_of(rev: str, into: Path) -> Path:
    """The `src` folder of commit `rev`, unpacked under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def in_process(case: str, src: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    done = subprocess.run(
        [sys.executable, __file__, "--one", case],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"case": case, "outcome": f"crashed: {done.stderr.strip()[-200:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--before", default="", help="also run the cases on this commit")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(run_case(args.one))))
        return

    from pdfprompt.settings import Settings

    settings = Settings()
    print("# render bomb benchmark")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cpus, "
        f"{psutil.virtual_memory().total / MB / 1024:.0f} GB; limits of this code: "
        f"PDFPROMPT_MAX_PDF_MB={settings.max_pdf_mb}, "
        f"PDFPROMPT_RENDER_MEMORY_LIMIT_MB={settings.render_memory_limit_mb}"
    )
    print(
        "\n| code | engine:bomb | outcome | s | Python peak MB | children peak RSS MB "
        "| children peak held MB | worker tree peak MB |\n|---|---|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as folder:
        sources: list[tuple[str, Path | None]] = []
        if args.before:
            sources.append((args.before, code_of(args.before, Path(folder))))
        sources.append(("this", None))
        for case in args.cases.split(","):
            for label, src in sources:
                r = in_process(case, src)
                if "python" not in r:
                    print(f"| {label} | {case} | {r['outcome']} | | | | | |")
                    continue
                print(
                    f"| {label} | {case} | {r['outcome']} | {r['seconds']:.1f} "
                    f"| {r['python'] / MB:.0f} | {r['children'] / MB:.0f} "
                    f"| {r['children_held'] / MB:.0f} | {r['tree'] / MB:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

"""URL jobs and the page options: what a render costs, per document.

    scripts/bench.sh url [--docs 20] [--rounds 3]

The 5-page corpus document (bench/corpus/report5.html) rendered by one warm Chromium pool
(the headless shell, one page), in interleaved rounds, the median round shown:

- html: handed to a pooled page as a document (`render`), default options;
- html-screen: the same with `media: screen` and `omit_background` (each render switches
  the pooled page, and the next default render switches it back);
- url: the same bytes served over HTTP on 127.0.0.2 and rendered as a URL job
  (`render_url`): a browser context and page of its own, scripts on, every request
  fetched by pdfprompt;
- url-idle: the URL job with `wait_for: {"network_idle": true}` (500 ms of quiet).

Reports milliseconds per document (wall) and CPU-seconds per document of this process
(pdfprompt's side: the fetcher, the protocol) and of Chromium's processes (those that ended,
a URL job's page's, counted through their parent).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.web_hosts import PAGES_ADDRESS, Site

from pdfprompt.domain import RenderOptions, UrlPolicy, WaitFor
from pdfprompt.render import (
    ChromiumRenderer,
    WebFetcher,
    find_headless_shell,
)

CORPUS = Path(__file__).parent / "corpus" / "report5.html"


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for p in (process, *process.children(recursive=True)):
                # A page's processes that have ended count in their parent's children_*.
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shell = find_headless_shell()
    if shell is None:
        sys.exit("no Chromium headless shell installed")
    document = CORPUS.read_text()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {shell}")
    with Site(PAGES_ADDRESS) as site:
        site.page("/", document)
        url = site.url("/")
        web = WebFetcher(
            UrlPolicy((PAGES_ADDRESS,), (ipaddress.ip_network(f"{PAGES_ADDRESS}/32"),))
        )
        async with ChromiumRenderer(shell, max_concurrency=1, timeout_s=60) as renderer:
            browsers = [slot.browser.process.pid for slot in renderer._slots if slot.browser]

            screen = RenderOptions(media="screen", omit_background=True)
            idle = RenderOptions(wait_for=WaitFor(network_idle=True))
            cases: dict[str, Callable[[], Awaitable[object]]] = {
                "html": lambda: renderer.render(document, RenderOptions()),
                "html-screen": lambda: renderer.render(document, screen),
                "url": lambda: renderer.render_url(url, RenderOptions(), web.page()),
                "url-idle": lambda: renderer.render_url(url, idle, web.page()),
            }
            for run in cases.values():  # warm up
                await run()
            results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, run in cases.items():
                    own = psutil.Process().cpu_times()
                    chromium = _cpu(browsers)
                    started = time.perf_counter()
                    for _ in range(args.docs):
                        await run()
                    wall = (time.perf_counter() - started) / args.docs * 1000
                    mine = psutil.Process().cpu_times()
                    own_cpu = (mine.user + mine.system - own.user - own.system) / args.docs
                    chromium_cpu = (_cpu(browsers) - chromium) / args.docs
                    results[name].append((wall, own_cpu, chromium_cpu))
    print(f"\n{args.docs} documents a round, {args.rounds} rounds, median round\n")
    print("| case | ms/doc | pdfprompt CPU-s/doc | Chromium CPU-s/doc |")
    print("|---|---:|---:|---:|")
    for name, rows in results.items():
        wall, own_cpu, chromium_cpu = (
            statistics.median(column) for column in zip(*rows, strict=True)
        )
        print(f"| {name} | {wall:.0f} | {own_cpu:.3f} | {chromium_cpu:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())

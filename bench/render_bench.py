"""Render benchmarks: pdfprompt's renderer and whole service against bare references.

    scripts/bench.sh render [--docs 200] [--slow-docs 10] [--rounds 3] [--soak 0]
                            [--only CASES] [--before DIR]

For each corpus document (bench/corpus/: a 1-page invoice, 5- and 20-page
reports), made unique per render so nothing can be cached, in one run:

1. bare: a Playwright loop, one warm browser and 2 reusable pages, nothing else;
2. renderer: pdfprompt's renderer through its pool, its PDF finished as a job's is
   (`render_input`: render, then `pdfprompt.pdf.finish`; 2 callers);
   renderer-tagged: the same, asked for a tagged PDF with an outline (`tagged`,
   `outline`), what accessibility costs;
3. service: `pdfprompt serve` (SQLite, local files), documents submitted over
   HTTP at once, from the first submit to the last job succeeded; with `--before DIR`
   (a source tree of another version, e.g. `git archive REV | tar -x -C DIR`) also
   service-before, the same with DIR/src first on `PYTHONPATH`, in the same rounds;
4. cold: a new browser per document (2 at a time);
5. weasyprint: WeasyPrint in 2 processes (pdfprompt's fallback renderer).

pdfprompt runs the Chromium it finds first: the headless shell where one is
installed. The references and the renderer run on that build (bare, renderer,
cold, and the service) and, where this machine also has a full Chromium
browser, on it as well (bare-browser, renderer-browser, cold-browser), so the
ratios are shown build for build, what the choice of build is worth, and
against the browser a user without pdfprompt would most likely run.

Reports documents per second, machine CPU-seconds per document (all processes:
browser, API, database), p50/p95 latency of one render (service: of one job,
started to finished), and the ratios the targets are stated in. `--soak N`
then renders N documents through the renderer and reports its process tree's
memory (after warm-up, peak, growth) and any zombie or leftover process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from benchlib import Service, at, submit_jobs, tree, tree_rss_mb
from playwright.async_api import Page, async_playwright

from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.pipeline import render_input
from pdfprompt.render import (
    HEADLESS_ARGS,
    WeasyPrintRenderer,
    find_browser,
    find_chromium,
    print_parameters,
    render_pdf,
    renderer_from_settings,
)
from pdfprompt.settings import Settings

CORPUS = Path(__file__).resolve().parent / "corpus"
DOCUMENTS = ("invoice", "report5", "report20")


@dataclass
class Result:
    case: str
    document: str
    docs: int
    seconds: float
    cpu_s: float
    latencies: list[float]
    sizes: list[int] = field(default_factory=list)  # PDF bytes, where the case records them
    own_cpu_ms: float = 0.0  # the service's own process (not its browsers) per document

    @property
    def rate(self) -> float:
        return self.docs / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def unique(document: str) -> str:
    """The document with a marker of its own, so no render can be served from a cache."""
    marker = f'<meta name="pdfprompt-bench" content="{uuid.uuid4()}">'
    return document.replace("<head>", "<head>" + marker, 1)


def busy_cpu_s() -> float:
    """CPU-seconds the whole machine has spent busy (every process; time stolen by a
    hypervisor and guest time, already in user, are left out)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


async def timed(
    case: str, name: str, n: int, callers: int, one: Callable[[int, str], Awaitable[float]]
) -> Result:
    """Run `one(caller, document)` n times from `callers` loops; each returns its latency."""
    source = (CORPUS / f"{name}.html").read_text("utf-8")
    docs = [unique(source) for _ in range(n)]
    latencies: list[float] = []

    async def loop(caller: int) -> None:
        while docs:
            latencies.append(await one(caller, docs.pop()))

    cpu0, t0 = busy_cpu_s(), time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(callers)))
    seconds, cpu = time.perf_counter() - t0, busy_cpu_s() - cpu0
    return Result(case, name, n, seconds, cpu / n, latencies)


def pdf_arguments(options: RenderOptions) -> dict[str, Any]:
    """Playwright's `page.pdf` arguments for the same PDF pdfprompt's renderer asks for."""
    params = print_parameters(options)
    return {
        "landscape": params["landscape"],
        "print_background": params["printBackground"],
        "scale": params["scale"],
        "width": f"{params['paperWidth']}in",
        "height": f"{params['paperHeight']}in",
        "margin": {
            side: f"{params['margin' + side.title()]}in"
            for side in ("top", "right", "bottom", "left")
        },
        "prefer_css_page_size": params["preferCSSPageSize"],
        "tagged": params["generateTaggedPDF"],
        "outline": params["generateDocumentOutline"],
    }


def chromium() -> str:
    path = find_chromium(None)
    if path is None:
        raise SystemExit("no Chromium found; install it (apt-get install chromium-headless-shell)")
    return path


# -- 1. bare Playwright ---------------------------------------------------------------------


async def bench_bare(name: str, n: int, path: str, case: str) -> Result:
    args = pdf_arguments(RenderOptions())
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=list(HEADLESS_ARGS))
        pages: list[Page] = [await browser.new_page() for _ in range(2)]

        async def one(caller: int, doc: str) -> float:
            t = time.perf_counter()
            await pages[caller].set_content(doc, wait_until="load")
            await pages[caller].pdf(**args)
            return time.perf_counter() - t

        await asyncio.gather(*(one(i, "<p>warm</p>") for i in range(2)))
        result = await timed(case, name, n, 2, one)
        await browser.close()
    return result


# -- 2. pdfprompt's renderer ----------------------------------------------------------------


async def bench_renderer(
    name: str, n: int, path: str, case: str, options: RenderOptions | None = None
) -> Result:
    settings = Settings(render_engine="chromium", chromium_path=path)
    options = options or RenderOptions()
    sizes: list[int] = []
    async with renderer_from_settings(settings) as renderer:

        async def one(_caller: int, doc: str) -> float:
            t = time.perf_counter()
            sizes.append(len((await render_input(renderer, JobType.HTML, doc, options)).data))
            return time.perf_counter() - t

        await asyncio.gather(*(one(i, "<p>warm</p>") for i in range(2)))
        del sizes[:]
        result = await timed(case, name, n, settings.max_pdf_concurrency, one)
        result.sizes = sizes
        return result


async def bench_tagged(name: str, n: int, path: str, case: str) -> Result:
    return await bench_renderer(name, n, path, case, RenderOptions(tagged=True, outline=True))


# -- 3. the whole service -------------------------------------------------------------------


async def bench_service(name: str, n: int, case: str = "service", **env: str) -> Result:
    source = (CORPUS / f"{name}.html").read_text("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Path(tmp), **env)
        key = service.start()
        try:
            warm = await submit_jobs(service.url, key, [{"type": "html", "input": "<p>w</p>"}])
            await service.finished(warm)
            docs = [unique(source) for _ in range(n)]
            own = psutil.Process(service.pid)
            own0 = sum(own.cpu_times()[:2])
            cpu0, t0 = busy_cpu_s(), time.time()
            ids = await submit_jobs(service.url, key, [{"type": "html", "input": d} for d in docs])
            rows = await service.finished(ids)
            cpu = busy_cpu_s() - cpu0
            own_ms = (sum(own.cpu_times()[:2]) - own0) * 1000 / n
        finally:
            service.stop()
    bad = [r for r in rows if r[0] != "succeeded"]
    if bad:
        raise SystemExit(f"{len(bad)} jobs did not succeed: {bad[:3]}")
    last = max(at(r[3]) for r in rows)
    latencies = [at(r[3]) - at(r[2]) for r in rows]
    return Result(case, name, n, last - t0, cpu / n, latencies, own_cpu_ms=own_ms)


# -- 4. a new browser per document ----------------------------------------------------------


async def bench_cold(name: str, n: int, path: str, case: str) -> Result:
    args = pdf_arguments(RenderOptions())
    async with async_playwright() as pw:

        async def one(_caller: int, doc: str) -> float:
            t = time.perf_counter()
            browser = await pw.chromium.launch(executable_path=path, args=list(HEADLESS_ARGS))
            page = await browser.new_page()
            await page.set_content(doc, wait_until="load")
            await page.pdf(**args)
            await browser.close()
            return time.perf_counter() - t

        return await timed(case, name, n, 2, one)


# -- 5. WeasyPrint --------------------------------------------------------------------------


async def bench_weasyprint(name: str, n: int) -> Result:
    async with WeasyPrintRenderer(processes=2, timeout_s=600) as renderer:

        async def one(_caller: int, doc: str) -> float:
            t = time.perf_counter()
            await renderer.render(doc, RenderOptions())
            return time.perf_counter() - t

        return await timed("weasyprint", name, n, 2, one)


# -- soak -----------------------------------------------------------------------------------


def leftovers() -> list[str]:
    """This process's descendants, but for multiprocessing's resource tracker: the WeasyPrint
    case starts it, and it lives as long as this process, by design."""
    found = []
    for child in tree(os.getpid())[1:]:
        try:
            if "multiprocessing.resource_tracker" in " ".join(child.cmdline()):
                continue
            found.append(f"{child.pid} {child.name()} {child.status()}")
        except psutil.Error:
            continue
    return found


async def soak(n: int) -> None:
    source = (CORPUS / "invoice.html").read_text("utf-8")
    settings = Settings(render_engine="chromium")
    samples: list[tuple[int, float]] = []
    zombies_during = 0
    done = 0
    t0 = time.perf_counter()
    async with renderer_from_settings(settings) as renderer:

        async def loop() -> None:
            nonlocal done, zombies_during
            while done < n:
                done += 1
                await render_pdf(renderer, unique(source), RenderOptions())
                if done % 250 == 0:
                    samples.append((done, tree_rss_mb(os.getpid())))
                    zombies_during = max(zombies_during, sum("zombie" in p for p in leftovers()))

        await asyncio.gather(*(loop() for _ in range(settings.max_pdf_concurrency)))
        recycle_after = settings.browser_recycle_after
    seconds = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    left = leftovers()
    warm_at = max(500, n // 10)
    warm = next((mb for i, mb in samples if i >= warm_at), samples[0][1])
    peak = max(mb for _, mb in samples)
    print(f"\n## soak: {n} renders of the invoice through the renderer ({seconds:.0f} s)")
    print(
        f"browser recycled every {recycle_after} renders; process tree RSS sampled every 250 "
        f"renders: after warm-up ({warm_at} renders) {warm:.0f} MB, peak {peak:.0f} MB, "
        f"last {samples[-1][1]:.0f} MB; growth after warm-up {100 * (peak - warm) / warm:.1f} %"
    )
    print(f"most zombie processes seen at a sample: {zombies_during}")
    print(f"processes left after the renderer closed: {left or 'none'}")


# -- driver ---------------------------------------------------------------------------------


def _on(
    bench: Callable[[str, int, str, str], Awaitable[Result]], path: str, case: str
) -> Callable[[str, int], Awaitable[Result]]:
    """`bench` run on the Chromium at `path`, its results named `case`."""

    async def run(name: str, n: int) -> Result:
        return await bench(name, n, path, case)

    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=200, help="renders per fast case and round")
    parser.add_argument(
        "--slow-docs", type=int, default=10, help="renders per round for cold and weasyprint"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--soak", type=int, default=0, help="then N renders for memory/zombies")
    parser.add_argument("--only", default="", help="comma-separated cases to run")
    parser.add_argument(
        "--before", default="", help="a source tree of another version: also service-before"
    )
    args = parser.parse_args()

    used = chromium()
    browser = find_browser()
    builds = {"": used}
    if browser is not None and Path(browser).resolve() != Path(used).resolve():
        builds["-browser"] = browser
    print("# render benchmark")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cpus, "
        f"MAX_PDF_CONCURRENCY={Settings().max_pdf_concurrency}, BROWSER_POOL_SIZE="
        f"{Settings().browser_pool_size}"
    )
    for suffix, path in builds.items():
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        role = f"bare{suffix}, renderer{suffix}, cold{suffix}" + ("" if suffix else ", service")
        print(f"- {path} ({version.strip()}): {role}")
    cases: list[tuple[str, Callable[[str, int], Awaitable[Result]], int]] = []
    for suffix, path in builds.items():
        cases.append((f"bare{suffix}", _on(bench_bare, path, f"bare{suffix}"), args.docs))
    for suffix, path in builds.items():
        cases.append(
            (f"renderer{suffix}", _on(bench_renderer, path, f"renderer{suffix}"), args.docs)
        )
    cases.append(("renderer-tagged", _on(bench_tagged, used, "renderer-tagged"), args.docs))
    cases.append(("service", bench_service, args.docs))
    if args.before:
        before = str(Path(args.before).resolve() / "src")
        before_path = os.pathsep.join(p for p in (before, os.environ.get("PYTHONPATH")) if p)

        async def bench_before(name: str, n: int, python_path: str = before_path) -> Result:
            return await bench_service(name, n, "service-before", PYTHONPATH=python_path)

        cases.append(("service-before", bench_before, args.docs))
    for suffix, path in builds.items():
        cases.append((f"cold{suffix}", _on(bench_cold, path, f"cold{suffix}"), args.slow_docs))
    cases.append(("weasyprint", bench_weasyprint, args.slow_docs))
    wanted = set(args.only.split(",")) if args.only else {c for c, _, _ in cases}
    print(f"{args.rounds} rounds; each round runs every case in turn; the median round is shown")
    print(
        "\n| case | document | docs | docs/s (median) | all rounds | CPU-s/doc | p50 ms "
        "| p95 ms | KiB/PDF | ratio |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    summary: dict[str, dict[str, float]] = {}
    own: dict[str, dict[str, list[float]]] = {}  # the service cases' own CPU-ms per document
    for name in DOCUMENTS:
        runs: dict[str, list[Result]] = {case: [] for case, _, _ in cases if case in wanted}
        for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits all
            for case, run, n in cases:
                if case in wanted:
                    runs[case].append(await run(name, n))
        medians = {c: sorted(rs, key=lambda r: r.rate)[len(rs) // 2] for c, rs in runs.items()}
        bare = medians.get("bare")
        for case, r in medians.items():
            ratio = "" if case == "bare" or bare is None else f"{r.rate / bare.rate:.2f}x bare"
            every = ", ".join(f"{x.rate:.2f}" for x in runs[case])
            kib = f"{sum(r.sizes) / len(r.sizes) / 1024:.1f}" if r.sizes else ""
            print(
                f"| {r.case} | {r.document} | {r.docs} | {r.rate:.2f} | {every} | "
                f"{r.cpu_s:.3f} | {r.pct(0.5) * 1000:.0f} | {r.pct(0.95) * 1000:.0f} | {kib} "
                f"| {ratio} |",
                flush=True,
            )
        summary[name] = {case: r.rate for case, r in medians.items()}
        own[name] = {c: [x.own_cpu_ms for x in rs] for c, rs in runs.items() if rs[0].own_cpu_ms}
    print(
        "\ntargets: renderer >= 1.0x bare, service >= 0.9x bare and >= 0.9x renderer, "
        "renderer >= 15x cold"
    )
    pairs = [("renderer", "bare"), ("service", "bare"), ("renderer", "cold")]
    pairs += [(case, f"{ref}-browser") for case, ref in pairs]
    pairs += [("renderer-browser", "bare-browser"), ("renderer-browser", "cold-browser")]
    pairs += [("renderer", "renderer-browser"), ("renderer-tagged", "renderer")]
    pairs += [("service", "renderer"), ("service-before", "renderer")]
    for name, rates in summary.items():
        parts = [
            f"{case} {rates[case] / rates[ref]:.2f}x {ref}"
            for case, ref in pairs
            if case in rates and ref in rates
        ]
        print(f"- {name}: " + ", ".join(parts))
    if any(own.values()):
        print("\nthe service's own process (its Python threads, not its browsers), CPU-ms/doc:")
    for name, cases in own.items():
        rounds = "; ".join(f"{c} {', '.join(f'{v:.1f}' for v in vs)}" for c, vs in cases.items())
        print(f"- {name}: {rounds}")
    if args.soak:
        await soak(args.soak)


if __name__ == "__main__":
    asyncio.run(main())

"""Prompt jobs against a slow LLM: do the waits overlap?

    scripts/bench.sh prompt [--jobs 1000] [--latency-ms 5000] [--slots 1000]

Starts `pdfprompt dev fake-llm` (every answer after `--latency-ms`) and
`pdfprompt serve` (SQLite, local files, one worker with `--slots` job slots and
the default render slots), submits `--jobs` prompt jobs at once over HTTP and
measures from the first submit to the last job succeeded. In the same run it
measures the render rate of the fake model's document through pdfprompt's
renderer, and checks the target: total <= 1.2 x (latency + jobs / render rate).
Reports the job slots used and the service's peak memory (process tree RSS).

The default gives every job a slot: for the waits to overlap, a worker needs
about latency x render rate slots, and at 5 s and the headless shell's render
rate of this document (170-210 a second here) that is most of the 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from benchlib import (
    PDFPROMPT,
    Service,
    at,
    cpu_by_name,
    free_port,
    submit_jobs,
    tree_rss_mb,
    wait_http,
)

from pdfprompt.devtools.fake_llm import document_for
from pdfprompt.domain import RenderOptions
from pdfprompt.generate import clean_document
from pdfprompt.render import render_pdf, renderer_from_settings
from pdfprompt.settings import Settings


async def render_rate(n: int) -> float:
    """Documents per second for the fake model's document through pdfprompt's renderer."""
    settings = Settings(render_engine="chromium")  # MAX_PDF_CONCURRENCY applies
    async with renderer_from_settings(settings) as renderer:
        docs = [
            clean_document(document_for(f"Report {uuid.uuid4()}\nQuarterly figures"))
            for _ in range(n)
        ]

        async def loop() -> None:
            while docs:
                await render_pdf(renderer, docs.pop(), RenderOptions())

        await render_pdf(renderer, docs.pop(), RenderOptions())
        t0 = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(settings.max_pdf_concurrency)))
        return (n - 1) / (time.perf_counter() - t0)


def print_stage_means(metrics: str) -> None:
    """Mean seconds per job in each stage, from the service's /metrics."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        for suffix, into in (("_sum", sums), ("_count", counts)):
            if line.startswith(f"pdfprompt_stage_duration_seconds{suffix}{{"):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                into[stage] = float(line.rsplit(" ", 1)[1])
    means = ", ".join(f"{s} {sums[s] / counts[s]:.3f} s" for s in sums if counts.get(s))
    print(f"mean time per job in each stage: {means}")


async def run_service(jobs: int, latency_ms: int, slots: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        llm_port = free_port()
        fake = subprocess.Popen(
            [
                *(PDFPROMPT, "dev", "fake-llm", "--port", str(llm_port), "--stream"),
                *("--latency-ms", str(latency_ms)),
            ],
            stdout=subprocess.DEVNULL,
        )
        service = Service(
            Path(tmp),
            PDFPROMPT_WORKER_CONCURRENCY=str(slots),
            PDFPROMPT_MAX_CONCURRENT_JOBS=str(slots),
            OPENROUTER_API_KEY="sk-bench",
            OPENROUTER_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
            PDFPROMPT_LLM_MODELS="fake",
        )
        try:
            wait_http(f"http://127.0.0.1:{llm_port}/_calls")
            key = service.start()
            peak = 0.0
            t0 = time.time()
            prompts = [
                {"type": "prompt", "input": f"Report {i}\nQuarterly figures"} for i in range(jobs)
            ]
            ids = await submit_jobs(service.url, key, prompts)
            while True:
                peak = max(peak, tree_rss_mb(service.pid))
                with sqlite3.connect(f"file:{service.db}?mode=ro", uri=True) as conn:
                    done, failed, last = conn.execute(
                        "SELECT count(*) FILTER (WHERE status = 'succeeded'), "
                        "count(*) FILTER (WHERE status IN ('failed', 'canceled')), "
                        "max(finished_at) FROM jobs WHERE type = 'prompt'"
                    ).fetchone()
                if failed:
                    raise SystemExit(f"{failed} jobs failed")
                if done == len(ids):
                    break
                await asyncio.sleep(0.25)
            print_stage_means(httpx.get(f"{service.url}/metrics").text)
            print(f"CPU-seconds: {cpu_by_name(service.pid)}; fake LLM {cpu_by_name(fake.pid)}")
            return at(last) - t0, peak, slots
        finally:
            service.stop()
            fake.terminate()
            fake.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=1000, help="PDFPROMPT_WORKER_CONCURRENCY")
    parser.add_argument("--render-docs", type=int, default=300)
    args = parser.parse_args()
    print("# prompt benchmark")
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus")
    rate = await render_rate(args.render_docs)
    seconds, peak, slots = await run_service(args.jobs, args.latency_ms, args.slots)
    latency_s = args.latency_ms / 1000
    bound = 1.2 * (latency_s + args.jobs / rate)
    print(
        f"render rate of the model's document (renderer, same run): {rate:.2f} docs/s\n"
        f"{args.jobs} prompt jobs, LLM latency {latency_s:g} s, {slots} job slots: "
        f"{seconds:.1f} s from first submit to last success ({args.jobs / seconds:.1f} jobs/s)\n"
        f"target: <= 1.2 x ({latency_s:g} s + {args.jobs} / {rate:.2f}) = {bound:.1f} s -> "
        f"{'met' if seconds <= bound else 'NOT met'} ({seconds / bound:.2f} of the bound)\n"
        f"peak memory of the service (process tree RSS): {peak:.0f} MB"
    )


if __name__ == "__main__":
    asyncio.run(main())

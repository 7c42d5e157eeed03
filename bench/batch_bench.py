"""Batch benchmarks: queueing a 10,000-row batch, and a batch's throughput beside the
renderer's own rate for the same document.

    scripts/bench.sh batch [--rows 10000] [--rounds 3] [--render-rows 120]

1. Validation and queueing: `POST /v1/batches` with `--rows` Markdown invoices (each row a
   job body, every row checked as `POST /v1/jobs` checks one, then all queued in one
   transaction with the quota reserved for all), against `pdfprompt api` (no worker, so
   nothing renders meanwhile), on SQLite and on PostgreSQL (a fresh database each round);
   the request's wall time, median of `--rounds`.
2. Throughput: `--render-rows` invoices rendered by the renderer alone (in this process, as
   many at once as `MAX_PDF_CONCURRENCY`), then the same number submitted as one batch to
   `pdfprompt serve` on SQLite, timed from the request to the batch completed; documents
   per second of each and their ratio.
3. The archive: time to the ZIP's first byte and to its last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from benchlib import PDFPROMPT, Service, free_port, fresh_pg, wait_http

from pdfprompt.domain import RenderOptions
from pdfprompt.generate import markdown_document
from pdfprompt.render import render_pdf, renderer_from_settings
from pdfprompt.settings import Settings


def invoice(row: int) -> str:
    """A one-page Markdown invoice, different in every row (no render is a cache hit)."""
    lines = "\n".join(f"| Item {row}-{n} | {n + 1} | {9.5 * (n + 1):.2f} |" for n in range(6))
    return (
        f"# Invoice {row:05d}\n\nBakery Lindqvist · Storgatan {row % 90 + 1} · Malmö\n\n"
        f"**Customer:** Customer {row}  \n**Date:** 2026-12-04  \n**Due:** 2027-01-03\n\n"
        f"| Item | Qty | Amount |\n|---|---:|---:|\n{lines}\n\n**Total:** {row * 1.5:.2f} EUR\n"
    )


def bodies(rows: int) -> bytes:
    return json.dumps(
        {
            "jobs": [{"type": "markdown", "input": invoice(n)} for n in range(rows)],
            "filename": "invoice-{row}.pdf",
        }
    ).encode()


def start(role: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    proc = subprocess.Popen(
        [PDFPROMPT, role, "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz")
    out = subprocess.run(
        [PDFPROMPT, "users", "create", f"bench-{uuid.uuid4().hex[:6]}@example.com"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc, url, out.stdout.strip().splitlines()[-1]


def base_env(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDFPROMPT_", "DATABASE_"))}
    env.update(
        PDFPROMPT_DATA_DIR=str(tmp / "data"),
        DATABASE_URL=database_url,
        PDFPROMPT_LOG_LEVEL="warning",
        **extra,
    )
    return env


async def queue_once(database: str, body: bytes, rows: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        if database == "sqlite":
            env = base_env(Path(tmp), f"sqlite:///{tmp}/pdfprompt.sqlite3")
            return post_batch(env, body, rows)
        async with fresh_pg() as url:
            env = base_env(Path(tmp), url)
            subprocess.run([PDFPROMPT, "db", "upgrade"], env=env, check=True, capture_output=True)
            return post_batch(env, body, rows)


def post_batch(env: dict[str, str], body: bytes, rows: int) -> float:
    proc, url, key = start("api", env)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            t0 = time.perf_counter()
            answer = c.post(
                "/v1/batches",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            seconds = time.perf_counter() - t0
            assert answer.status_code == 202, answer.text[:500]
            assert answer.json()["total"] == rows
        return seconds
    finally:
        proc.terminate()
        proc.wait(60)


async def renderer_rate(rows: int) -> float:
    settings = Settings(render_engine="chromium")
    documents = [markdown_document(invoice(n)) for n in range(rows)]
    async with renderer_from_settings(settings) as renderer:
        await render_pdf(renderer, markdown_document(invoice(-1)), RenderOptions())  # warm
        queue = list(documents)
        t0 = time.perf_counter()

        async def loop() -> None:
            while queue:
                await render_pdf(renderer, queue.pop(), RenderOptions())

        await asyncio.gather(*(loop() for _ in range(settings.max_pdf_concurrency)))
        return rows / (time.perf_counter() - t0)


def batch_rate(rows: int) -> tuple[float, float, float, int]:
    """Documents per second of a batch through `pdfprompt serve`; the archive's time to its
    first byte and to its last, and its size."""
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Path(tmp), PDFPROMPT_POLL_MS="100")
        key = service.start()
        try:
            with httpx.Client(
                base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=600
            ) as c:
                c.post("/v1/jobs", json={"type": "markdown", "input": invoice(-1)})  # warm
                time.sleep(3)
                t0 = time.perf_counter()
                batch = c.post(
                    "/v1/batches",
                    content=bodies(rows),
                    headers={"Content-Type": "application/json"},
                ).json()
                while c.get(f"/v1/batches/{batch['id']}").json()["status"] != "completed":
                    time.sleep(0.1)
                rate = rows / (time.perf_counter() - t0)
                t1 = time.perf_counter()
                first = None
                size = 0
                with c.stream("GET", f"/v1/batches/{batch['id']}/archive") as archive:
                    for chunk in archive.iter_raw():
                        if first is None:
                            first = time.perf_counter() - t1
                        size += len(chunk)
                last = time.perf_counter() - t1
                return rate, first or last, last, size
        finally:
            service.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--render-rows", type=int, default=120)
    args = parser.parse_args()
    body = bodies(args.rows)
    machine = f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"# batch benchmark ({machine})")
    print(f"\n## validation and queueing: {args.rows} rows, body {len(body) / 1e6:.1f} MB\n")
    print("| database | median s | rounds (s) |\n|---|---:|---|")
    for database in ("sqlite", "postgresql"):
        times = [await queue_once(database, body, args.rows) for _ in range(args.rounds)]
        print(
            f"| {database} | {statistics.median(times):.2f} | "
            f"{', '.join(f'{t:.2f}' for t in times)} |"
        )
    own = await renderer_rate(args.render_rows)
    rate, first, last, size = batch_rate(args.render_rows)
    print(f"\n## throughput: {args.render_rows} invoices (one page each)\n")
    print("| path | documents/s |\n|---|---:|")
    print(f"| the renderer alone | {own:.1f} |")
    print(f"| a batch through `pdfprompt serve` (SQLite) | {rate:.1f} |")
    print(f"\nratio batch / renderer: {rate / own:.2f}")
    print(
        f"\n## archive: {size / 1e6:.1f} MB ZIP, first byte after {first * 1000:.0f} ms, "
        f"last after {last * 1000:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())

"""Batch benchmarks: queueing a 10,000-row batch (job bodies, and a template's data), and
the service's throughput beside the renderer's own rate for the same document.

    scripts/bench.sh batch [--rows 10000] [--rounds 3] [--render-rows 300] [--single-jobs 300]

1. Validation and queueing: `POST /v1/batches` with `--rows` Markdown invoices, in two
   forms: job bodies (`{"jobs": [...]}`, each row checked as `POST /v1/jobs` checks one) and
   a template's data (`{"template", "items"}`, each item checked against the template's JSON
   Schema and stored with the template's body), all queued in one transaction with the
   quota reserved for all, against `pdfprompt api` (no worker, so nothing renders
   meanwhile), on SQLite and on PostgreSQL (a fresh database each round); the request's
   wall time, median of `--rounds`.
2. Throughput, side by side in each round: `--render-rows` invoices rendered by the
   renderer alone (in this process, as many at once as `MAX_PDF_CONCURRENCY`), then the
   same invoices as one batch through `pdfprompt serve` on SQLite, then as `--single-jobs`
   single `POST /v1/jobs`; the service's rate is taken from the database's times (first job
   created to last job finished), so how often this looks does not change it. Documents
   per second of each, the ratios, medians of `--rounds`.
3. The archive of the last round's batch: time to the ZIP's first byte and to its last.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import httpx
from benchlib import PDFPROMPT, Service, at, free_port, fresh_pg, submit_jobs, wait_http
from pypdf import PdfReader

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


# The same invoice as a Markdown template and its data.
INVOICE_TEMPLATE = (
    "# Invoice {{ number }}\n\nBakery Lindqvist · Storgatan {{ street }} · Malmö\n\n"
    "**Customer:** {{ customer }}  \n**Date:** 2026-12-04  \n**Due:** 2027-01-03\n\n"
    "| Item | Qty | Amount |\n|---|---:|---:|\n"
    "{% for i in items %}| {{ i.name }} | {{ i.qty }} | {{ i.amount }} |\n{% endfor %}\n"
    "**Total:** {{ total }} EUR\n"
)
INVOICE_SCHEMA = {
    "type": "object",
    "required": ["number", "street", "customer", "items", "total"],
    "additionalProperties": False,
    "properties": {
        "number": {"type": "string", "maxLength": 20},
        "street": {"type": "integer", "minimum": 1},
        "customer": {"type": "string", "maxLength": 200},
        "total": {"type": "string", "maxLength": 20},
        "items": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["name", "qty", "amount"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "maxLength": 200},
                    "qty": {"type": "integer", "minimum": 1},
                    "amount": {"type": "string", "maxLength": 20},
                },
            },
        },
    },
}


def invoice_data(row: int) -> dict[str, object]:
    return {
        "number": f"{row:05d}",
        "street": row % 90 + 1,
        "customer": f"Customer {row}",
        "items": [
            {"name": f"Item {row}-{n}", "qty": n + 1, "amount": f"{9.5 * (n + 1):.2f}"}
            for n in range(6)
        ],
        "total": f"{row * 1.5:.2f}",
    }


def template_items(template_id: str, rows: int) -> bytes:
    return json.dumps(
        {
            "template": template_id,
            "items": [invoice_data(n) for n in range(rows)],
            "filename": "invoice-{number}.pdf",
        }
    ).encode()


def new_template(c: httpx.Client) -> str:
    made = c.post(
        "/v1/templates",
        json={
            "name": "invoice",
            "engine": "markdown",
            "body": INVOICE_TEMPLATE,
            "schema": INVOICE_SCHEMA,
            "sample_data": invoice_data(1),
        },
    )
    assert made.status_code == 201, made.text[:500]
    return str(made.json()["id"])


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


async def queue_once(database: str, body: bytes | None, rows: int) -> float:
    """Seconds to queue `body` (None: `rows` rows of the invoice template's data)."""
    with tempfile.TemporaryDirectory() as tmp:
        if database == "sqlite":
            env = base_env(Path(tmp), f"sqlite:///{tmp}/pdfprompt.sqlite3")
            return post_batch(env, body, rows)
        async with fresh_pg() as url:
            env = base_env(Path(tmp), url)
            subprocess.run([PDFPROMPT, "db", "upgrade"], env=env, check=True, capture_output=True)
            return post_batch(env, body, rows)


def post_batch(env: dict[str, str], body: bytes | None, rows: int) -> float:
    proc, url, key = start("api", env)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            if body is None:
                body = template_items(new_template(c), rows)
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


def jobs_span(db: Path, where: str, args: list[str], count: int) -> tuple[float, float]:
    """Once `count` jobs matching `where` have finished: the first one's creation and the
    last one's end (database times), read every 0.25 s over one read-only connection."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        while True:
            done, first, last = con.execute(
                f"SELECT count(finished_at), min(created_at), max(finished_at) FROM jobs "
                f"WHERE {where}",
                args,
            ).fetchone()
            if done >= count:
                return at(first), at(last)
            time.sleep(0.25)


class Throughput:
    """`pdfprompt serve` on SQLite with one user, warmed up; batches and single jobs timed."""

    def __init__(self, tmp: Path) -> None:
        self.service = Service(tmp)
        self.key = self.service.start()
        self.c = httpx.Client(
            base_url=self.service.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=600
        )
        self.last_batch = ""
        self.batch_rate(8)  # warm: the browser's pages, the database's caches

    def batch_rate(self, rows: int) -> float:
        batch = self.c.post(
            "/v1/batches", content=bodies(rows), headers={"Content-Type": "application/json"}
        )
        assert batch.status_code == 202, batch.text[:500]
        self.last_batch = batch.json()["id"]
        first, last = jobs_span(self.service.db, "batch_id = ?", [self.last_batch], rows)
        return rows / (last - first)

    async def single_rate(self, jobs: int) -> float:
        ids = await submit_jobs(
            self.service.url,
            self.key,
            [{"type": "markdown", "input": invoice(n)} for n in range(jobs)],
            connections=8,
        )
        marks = ",".join("?" * len(ids))
        first, last = jobs_span(self.service.db, f"id IN ({marks})", ids, jobs)
        return jobs / (last - first)

    def archive(self) -> tuple[float, float, int, int, int]:
        """The last batch's ZIP: seconds to its first byte and to its last, its size and its
        entries; and the pages of the batch's merged PDF."""
        t1 = time.perf_counter()
        first = None
        body = io.BytesIO()
        with self.c.stream("GET", f"/v1/batches/{self.last_batch}/archive") as archive:
            for chunk in archive.iter_raw():
                if first is None:
                    first = time.perf_counter() - t1
                body.write(chunk)
        last = time.perf_counter() - t1
        entries = len(zipfile.ZipFile(body).namelist())
        merged = self.c.get(f"/v1/batches/{self.last_batch}/archive", params={"merge": "true"})
        assert merged.status_code == 200, merged.text[:500]
        pages = len(PdfReader(io.BytesIO(merged.content)).pages)
        return first or last, last, body.tell(), entries, pages

    def close(self) -> None:
        self.c.close()
        self.service.stop()


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}"


def rounds_of(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--render-rows", type=int, default=300)
    parser.add_argument("--single-jobs", type=int, default=300, help="0: not measured")
    parser.add_argument("--skip-queueing", action="store_true")
    args = parser.parse_args()
    body = bodies(args.rows)
    machine = f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"# batch benchmark ({machine}, load average {os.getloadavg()[0]:.1f})")
    if not args.skip_queueing:
        size = len(template_items("tpl_x", args.rows)) / 1e6
        print(
            f"\n## validation and queueing: {args.rows} rows (jobs form: body "
            f"{len(body) / 1e6:.1f} MB; template form: body {size:.1f} MB)\n"
        )
        print("| database | form | median s | rounds (s) |\n|---|---|---:|---|")
        for database in ("sqlite", "postgresql"):
            for form, sent in (("jobs", body), ("template", None)):
                times = [await queue_once(database, sent, args.rows) for _ in range(args.rounds)]
                print(f"| {database} | {form} | {median(times)} | {rounds_of(times)} |")
    own: list[float] = []
    batch: list[float] = []
    single: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        service = Throughput(Path(tmp))
        try:
            for _ in range(args.rounds):
                own.append(await renderer_rate(args.render_rows))
                batch.append(service.batch_rate(args.render_rows))
                if args.single_jobs:
                    single.append(await service.single_rate(args.single_jobs))
            first, last, size, entries, pages = service.archive()
        finally:
            service.close()
    print(
        f"\n## throughput: one-page invoices, {args.render_rows} per batch, "
        f"{args.single_jobs} single jobs (median of {args.rounds}, side by side each round)\n"
    )
    print("| path | documents/s | ratio to the renderer | rounds (documents/s) |")
    print("|---|---:|---:|---|")
    print(f"| the renderer alone | {median(own)} | 1.00 | {rounds_of(own)} |")
    ratios = [b / o for b, o in zip(batch, own, strict=True)]
    print(
        f"| a batch through `pdfprompt serve` (SQLite) | {median(batch)} | {median(ratios)} | "
        f"{rounds_of(batch)} |"
    )
    if single:
        ratios = [s / o for s, o in zip(single, own, strict=True)]
        print(
            f"| single jobs through `pdfprompt serve` (SQLite) | {median(single)} | "
            f"{median(ratios)} | {rounds_of(single)} |"
        )
    print(
        f"\n## archive: {size / 1e6:.1f} MB ZIP, first byte after {first * 1000:.0f} ms, "
        f"last after {last * 1000:.0f} ms; {entries} entries for {args.render_rows} rows, "
        f"the merged PDF {pages} pages"
    )


if __name__ == "__main__":
    asyncio.run(main())

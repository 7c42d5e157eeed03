"""Web benchmark: how long the history page takes with 10,000 documents.

    scripts/bench.sh web [--documents 10000] [--requests 200]

On SQLite and on PostgreSQL (`PDFPROMPT_BENCH_PG_URL`, a new database made for the run),
one person gets `--documents` documents written straight through the job store (as the
worker leaves them: most succeeded with a PDF and a thumbnail, some failed, some cancelled;
prompts, Markdown and HTML of realistic lengths; a few with a rare word). Then a real
`pdfprompt serve` is started on that database, the person signs in through the pages, and
each case is asked `--requests` times, one request at a time over one kept-alive
connection, after `--warmup` requests that are not counted:

- history: `GET /documents`, the first page;
- filtered: `GET /documents?status=failed&type=html`, the first page of one status and type;
- search: `GET /documents?q=<a rare word>`, a search that has to look through the whole
  history to fill (or not fill) its page;
- document: `GET /documents/{id}` when this build has that page, else `GET /v1/jobs/{id}`
  (the job as the API shows it, with an API key); the table names which.

A time is from sending the request to having read the whole answer, on this machine over
loopback: the server's time plus a few tens of microseconds of the connection. p50 and p95
per case, side by side for the two databases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import asyncpg
import httpx
from benchlib import PDFPROMPT, free_port, fresh_pg, wait_http

from pdfprompt.db import create_engine
from pdfprompt.domain import JobError, JobType
from pdfprompt.queue import Finished, JobStore, NewJob, StoredFile, job_store_for
from pdfprompt.settings import Settings

PASSWORD = "a long benchmark password"
RARE = "zeppelin"  # in about one document in 500
WORKER = "web-bench"
WORDS = (  # noqa: SIM905 - a sentence of words reads better than a list of strings
    "report budget travel plan meeting notes invoice letter summary proposal quarterly "
    "design review customer support garden recipe kitchen school lesson history science "
    "market analysis growth revenue energy climate water city transport museum music art "
    "health sport training schedule project roadmap launch product team hiring policy"
).split()


@dataclass
class Case:
    name: str
    path: str
    api: bool = False  # sent with the API key rather than the session cookie


def _text(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    if rng.random() < 0.002:
        chosen.insert(rng.randrange(len(chosen)), RARE)
    return " ".join(chosen)


def _document(rng: random.Random, i: int) -> tuple[JobType, str, dict[str, str]]:
    kind = (JobType.PROMPT, JobType.MARKDOWN, JobType.HTML)[i % 3]
    options = {"title": _text(rng, 4).title()} if rng.random() < 0.3 else {}
    if kind is JobType.PROMPT:
        return kind, _text(rng, rng.randint(30, 120)), options
    if kind is JobType.MARKDOWN:
        paragraphs = [_text(rng, rng.randint(40, 90)) for _ in range(rng.randint(2, 5))]
        return kind, f"# {_text(rng, 4)}\n\n" + "\n\n".join(paragraphs), options
    paragraphs = [f"<p>{_text(rng, rng.randint(40, 90))}</p>" for _ in range(rng.randint(4, 9))]
    return kind, f"<h1>{_text(rng, 4)}</h1>" + "".join(paragraphs), options


async def populate(database_url: str, tmp: Path, user_id: str, count: int) -> str:
    """`count` ended documents of `user_id`, through the job store; the id of one that
    succeeded (for the document case)."""
    engine = create_engine(Settings(database_url=database_url, data_dir=tmp / "data"))
    store: JobStore = job_store_for(engine)
    rng = random.Random(20261206)
    try:
        made = 0
        succeeded = ""
        while made < count:
            batch = min(200, count - made)
            news = []
            for i in range(made, made + batch):
                kind, body, options = _document(rng, i)
                news.append(NewJob(user_id, kind, body, options, max_attempts=3))
            created = [await store.enqueue(n) for n in news]
            # Most succeed with a PDF and a thumbnail; one in ten fails; one in twenty is
            # cancelled before it runs.
            cancelled = [j.id for j in created if rng.random() < 0.05]
            for job_id in cancelled:
                await store.cancel_job(job_id, user_id)
            claimed = await store.claim_jobs(WORKER, batch, 600, per_user_cap=1_000_000)
            done = []
            for job in claimed:
                if rng.random() < 0.1:
                    error = JobError("render_failed", "the page could not be printed")
                    await store.fail_job(job.id, WORKER, error, retry_in_s=None)
                    continue
                stem = f"{user_id}/{job.id}-1-bench"
                stored = StoredFile(
                    storage_key=f"{stem}.pdf",
                    size_bytes=rng.randint(20_000, 400_000),
                    pages=rng.randint(1, 12),
                    sha256="0" * 64,
                    filename="document.pdf",
                    thumbnail_key=f"{stem}.png",
                )
                done.append(Finished(job.id, user_id, stored))
            outcome = await store.finish_jobs(WORKER, done)
            succeeded = succeeded or next(j for j, f in outcome.items() if f)
            made += batch
        return succeeded
    finally:
        await store.aclose()
        await engine.dispose()


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [PDFPROMPT, *args], env=env, capture_output=True, text=True, input=stdin, check=True
    )
    return done.stdout


async def timed(url: str, headers: str, path: str, n: int) -> list[float]:
    """Milliseconds of each of `n` GETs of `path`, one at a time over one connection."""
    parsed = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    request = f"GET {path} HTTP/1.1\r\nHost: {parsed.host}\r\n{headers}\r\n".encode()
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            assert length is not None, head
            await reader.readexactly(int(length[1]))
            times.append((time.perf_counter() - start) * 1000)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")
    finally:
        writer.close()
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_database(
    name: str, database_url: str, tmp: Path, args: argparse.Namespace
) -> tuple[dict[str, tuple[float, float]], str]:
    """Populate, serve, sign in, measure; (p50, p95) per case and the document case's path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDFPROMPT_", "DATABASE_"))}
    env.update(
        DATABASE_URL=database_url,
        PDFPROMPT_DATA_DIR=str(tmp / name),
        PDFPROMPT_LOG_LEVEL="warning",
    )
    cli(env, "db", "upgrade")
    email = f"bench-{name}@example.com"
    made = cli(
        env, "users", "create", email, "--plan", "enterprise", "--password", stdin=PASSWORD + "\n"
    )
    key = made.strip().splitlines()[-1]
    user_id = re.search(r"\(([0-9a-f-]{36})\)", made)
    assert user_id is not None, made
    started = time.perf_counter()
    document = await populate(database_url, tmp, user_id[1], args.documents)
    print(f"{name}: {args.documents} documents written in {time.perf_counter() - started:.1f} s")
    if name == "postgresql":  # what autovacuum does after this many written rows
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute("VACUUM ANALYZE")
        finally:
            await admin.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [PDFPROMPT, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_http(f"{url}/readyz")
        with httpx.Client(base_url=url, timeout=30) as browser:
            form = browser.get("/signin").text
            token = re.search(r'name="csrf" value="([^"]*)"', form)
            assert token is not None
            signed = browser.post(
                "/signin", data={"email": email, "password": PASSWORD, "csrf": token[1]}
            )
            assert signed.status_code == 303, signed.text
            session = browser.cookies["pdfprompt_session"]
            has_page = browser.get(f"/documents/{document}").status_code == 200
        cookie = f"Cookie: pdfprompt_session={session}\r\n"
        bearer = f"Authorization: Bearer {key}\r\n"
        cases = [
            Case("history", "/documents"),
            Case("filtered", "/documents?status=failed&type=html"),
            Case("search", f"/documents?q={RARE}"),
            Case("document", f"/documents/{document}")
            if has_page
            else Case("document", f"/v1/jobs/{document}", api=True),
        ]
        results = {}
        for case in cases:
            headers = bearer if case.api else cookie
            await timed(url, headers, case.path, args.warmup)
            times = await timed(url, headers, case.path, args.requests)
            results[case.name] = (statistics.median(times), percentile(times, 0.95))
        return results, cases[-1].path.replace(document, "{id}")
    finally:
        server.terminate()
        server.wait(60)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per case")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted requests first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sqlite_results, document_path = await run_database(
            "sqlite", f"sqlite:///{tmp / 'web.sqlite3'}", tmp, args
        )
        async with fresh_pg() as pg_url:
            pg_results, _ = await run_database("postgresql", pg_url, tmp, args)
            admin = await asyncpg.connect(pg_url)
            try:
                pg_version = await admin.fetchval("SHOW server_version")
            finally:
                await admin.close()

    print("\n# Web benchmark: the history page with", f"{args.documents:,} documents")
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL "
        f"{pg_version}, sqlalchemy {version('sqlalchemy')}, starlette {version('starlette')}, "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end); "
        f"{args.requests} requests per case (after {args.warmup} uncounted), one at a time "
        "over one kept-alive connection"
    )
    paths = {
        "history": "/documents",
        "filtered": "/documents?status=failed&type=html",
        "search": f"/documents?q={RARE}",
        "document": document_path,
    }
    head = (
        "| case | request | SQLite p50 ms | SQLite p95 ms | PostgreSQL p50 ms | PostgreSQL p95 ms |"
    )
    print(f"\n{head}")
    print("|---|---|---|---|---|---|")
    for case, path in paths.items():
        s50, s95 = sqlite_results[case]
        p50, p95 = pg_results[case]
        print(f"| {case} | `{path}` | {s50:.1f} | {s95:.1f} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())

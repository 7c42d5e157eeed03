"""API benchmark: what a status poll and a submission cost an API node.

    scripts/bench.sh api [--requests 3000] [--connections 20] [--rounds 3] [--idle-s 20]

`pdfprompt api` (the API role alone: no worker, so nothing renders and submitted jobs
stay queued) on SQLite and on PostgreSQL (`PDFPROMPT_BENCH_PG_URL`, a new database made
for the run), side by side with two bare references on the same uvicorn (httptools,
uvloop, warnings-only logging, as `pdfprompt api` runs it), each answering a poll with the
same JSON from memory, with no database, no key and nothing else:

- bare-starlette: a plain Starlette route;
- bare-fastapi: a FastAPI route with a response model, as pdfprompt's routes are.

Cases, over `--connections` keep-alive connections with a client of its own
(benchlib.http_requests), in interleaved rounds, the median round shown:

- poll: `GET /v1/jobs/{id}` of one queued job (the bare servers: `GET /job`);
- submit: `POST /v1/jobs` of a one-line Markdown job (a new job each time, on a user of
  the unlimited plan, so no quota or rate limit refuses it);
- idle: then `pdfprompt serve` (API, worker and webhook dispatcher, warm browser) doing
  nothing, on SQLite and on PostgreSQL: its process's CPU per second over `--idle-s`.

Reports requests per second and the server process's CPU (user + system, all threads) per
request; for PostgreSQL also the database server's CPU per request (every `postgres`
process on the machine, so run it on a quiet machine).

    scripts/bench.sh api --under-load [--rate 500] [--seconds 20] [--submit-share 0.2]
                         [--backlog 150] [--nice 0,10] [--document report20]
                         [--database sqlite|postgresql]

Latency under render load instead: `pdfprompt api` and `pdfprompt worker` as two processes
on one new SQLite database each time (`--database postgresql`: a new database on
`PDFPROMPT_BENCH_PG_URL`'s server each time), an open-loop load (benchlib.open_loop: a request
every 1/`--rate` s, whether or not the earlier ones were answered; latency from when a
request was due to its whole answer) for `--seconds`, every 1/`--submit-share`th request a
submission (`POST /v1/jobs`, a one-line Markdown job), the others polls
(`GET /v1/jobs/{id}`):

- rest: the API alone, nothing rendering;
- load, nice N: the worker started with `PDFPROMPT_WORKER_NICE=N` (for each N of `--nice`)
  and `--backlog` jobs of `--document` (bench/corpus/) queued before, so that its render
  slots are full for the whole measurement (the jobs still queued at the end are shown).

Reports p50/p95/p99/max latency of each, and the documents the worker finished a second
meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from benchlib import (
    PDFPROMPT,
    free_port,
    fresh_pg,
    http_requests,
    open_loop,
    percentile,
    submit_jobs,
    wait_http,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
CLIENT_AHEAD = 5  # how much higher the load client runs than the servers (--under-load)

# -- the bare references ----------------------------------------------------------------------


def serve_bare(kind: str, port: int, body_file: str) -> None:
    """Run a bare reference server (in its own process): `GET /job` answers the JSON in
    `body_file`."""
    import uvicorn

    job = json.loads(Path(body_file).read_text("utf-8"))
    app: Any
    if kind == "starlette":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def get_job(_request: Request) -> JSONResponse:
            return JSONResponse(job)

        app = Starlette(routes=[Route("/job", get_job), Route("/readyz", get_job)])
    else:
        from fastapi import FastAPI
        from pydantic import BaseModel, ConfigDict

        class JobOut(BaseModel):
            model_config = ConfigDict(extra="allow")
            id: str
            status: str

        app = FastAPI()

        @app.get("/job", response_model=JobOut)
        @app.get("/readyz", response_model=JobOut)
        async def get_job() -> JobOut:
            return JobOut(**job)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=True)


# -- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    key: str = ""
    job_path: str = "/job"
    on_pg: bool = False

    def cpu_s(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def postgres_cpu_s() -> float:
    total = 0.0
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "postmaster"):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
    return total


def start_api(name: str, database_url: str, tmp: Path, role: str = "api") -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDFPROMPT_")}
    env.update(
        DATABASE_URL=database_url,
        PDFPROMPT_DATA_DIR=str(tmp / name),
        PDFPROMPT_LOG_LEVEL="warning",
    )
    subprocess.run([PDFPROMPT, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [PDFPROMPT, role, "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz")
    email = f"bench-{uuid.uuid4().hex[:6]}@example.com"
    created = subprocess.run(
        [PDFPROMPT, "users", "create", email, "--plan", "enterprise"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    return Server(name, proc, url, key, on_pg=database_url.startswith("postgresql"))


def start_bare(kind: str, body_file: Path) -> Server:
    port = free_port()
    command = [sys.executable, __file__, "--bare-server", kind, str(port), str(body_file)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz")
    return Server(f"bare-{kind}", proc, url)


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Round:
    rate: float
    cpu_ms: float
    db_cpu_ms: float | None


async def measure(
    server: Server, requests: list[tuple[str, str, dict[str, Any] | None]], connections: int
) -> Round:
    on_pg = server.on_pg
    cpu0, db0, t0 = server.cpu_s(), postgres_cpu_s() if on_pg else 0.0, time.perf_counter()
    answers = await http_requests(server.url, server.key, requests, connections)
    elapsed = time.perf_counter() - t0
    cpu, db = server.cpu_s() - cpu0, (postgres_cpu_s() - db0) if on_pg else None
    bad = [a for a in answers if a[0] >= 300]
    if bad:
        raise SystemExit(f"{server.name}: {len(bad)} requests failed, first: {bad[0]}")
    n = len(requests)
    return Round(n / elapsed, 1000 * cpu / n, None if db is None else 1000 * db / n)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per case and round")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=20, help="how long to watch idle")
    parser.add_argument("--under-load", action="store_true", help="latency under render load")
    parser.add_argument("--rate", type=float, default=500, help="requests a second (--under-load)")
    parser.add_argument("--seconds", type=float, default=20, help="how long each case lasts")
    parser.add_argument(
        "--submit-share", type=float, default=0.2, help="of the requests, submissions"
    )
    parser.add_argument("--backlog", type=int, default=800, help="jobs queued before the load")
    parser.add_argument("--nice", default="0,10", help="PDFPROMPT_WORKER_NICE values to compare")
    parser.add_argument("--document", default="report20", help="what the backlog renders")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the database of the API and the worker (--under-load)",
    )
    args = parser.parse_args()
    if args.under_load:
        await under_load(args)
        return

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with fresh_pg() as pg_url:
            results = await requests_cases(args, tmp, pg_url)
        report(args, results)
        async with fresh_pg() as pg_url:
            await idle_case(args, tmp, pg_url)


async def requests_cases(
    args: argparse.Namespace, tmp: Path, pg_url: str
) -> dict[tuple[str, str], list[Round]]:
    """Every request case in interleaved rounds, after one warm-up run of each."""
    servers: list[Server] = []
    try:
        sqlite = start_api("sqlite", f"sqlite:///{tmp / 'api.sqlite3'}", tmp)
        servers.append(sqlite)
        pg = start_api("postgresql", pg_url, tmp)
        servers.append(pg)
        body: Any = None
        for api in (sqlite, pg):
            markdown = {"type": "markdown", "input": "# Status\n\nOne line."}
            [(status, body)] = await http_requests(
                api.url, api.key, [("POST", "/v1/jobs", markdown)]
            )
            if status != 202:
                raise SystemExit(f"{api.name}: submitting answered {status}: {body}")
            api.job_path = f"/v1/jobs/{body['id']}"
        job_file = tmp / "job.json"
        job_file.write_text(json.dumps(body), "utf-8")
        bare = [start_bare("starlette", job_file), start_bare("fastapi", job_file)]
        servers += bare

        def poll(server: Server) -> Callable[[], Awaitable[Round]]:
            requests = [("GET", server.job_path, None)] * args.requests
            return lambda: measure(server, requests, args.connections)

        def submit(server: Server) -> Callable[[], Awaitable[Round]]:
            body = {"type": "markdown", "input": "# Submitted\n\nOne line."}
            requests: list[tuple[str, str, dict[str, Any] | None]] = [
                ("POST", "/v1/jobs", body)
            ] * args.requests
            return lambda: measure(server, requests, args.connections)

        cases: list[tuple[str, str, Callable[[], Awaitable[Round]]]] = [
            ("poll", s.name, poll(s)) for s in (sqlite, pg, *bare)
        ] + [("submit", s.name, submit(s)) for s in (sqlite, pg)]
        for _, _, run in cases:  # warm every path once
            await run()
        results: dict[tuple[str, str], list[Round]] = {}
        for _ in range(args.rounds):
            for case, name, run in cases:
                results.setdefault((case, name), []).append(await run())
        return results
    finally:
        for server in servers:
            server.stop()


async def idle_case(args: argparse.Namespace, tmp: Path, pg_url: str) -> None:
    """`pdfprompt serve` doing nothing, on each database: its process's CPU per second."""
    servers: list[Server] = []
    try:
        servers.append(start_api("idle-sqlite", f"sqlite:///{tmp / 'idle.sqlite3'}", tmp, "serve"))
        servers.append(start_api("idle-pg", pg_url, tmp, "serve"))
        await asyncio.sleep(5)  # past start-up and the browser's warm-up
        print(f"\nidle `pdfprompt serve` (API, worker, webhooks), over {args.idle_s:.0f} s:")
        for server in servers:
            cpu0, db0 = server.cpu_s(), postgres_cpu_s()
            await asyncio.sleep(args.idle_s)
            cpu = 1000 * (server.cpu_s() - cpu0) / args.idle_s
            db = 1000 * (postgres_cpu_s() - db0) / args.idle_s
            where = f"PostgreSQL (server {db:.1f})" if server.on_pg else "SQLite"
            print(f"  {where}: {cpu:.1f} CPU-ms per second in pdfprompt's process")
    finally:
        for server in servers:
            server.stop()


# -- latency under render load ----------------------------------------------------------------


@dataclass
class LoadCase:
    name: str
    latencies: dict[str, list[float]]  # kind of request -> seconds
    refused: dict[str, int]  # kind of request -> answers of 300 or more
    finished_per_s: float | None = None  # documents the worker finished a second meanwhile
    left: int | None = None  # jobs still queued at the end
    loop_lag: dict[float, float] | None = None  # the API's loop lag: bucket bound -> count


def loop_lag_buckets(url: str) -> dict[float, float]:
    """The API process's `pdfprompt_event_loop_lag_seconds` histogram, cumulative counts by
    upper bound (inf included), from its /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("pdfprompt_event_loop_lag_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def lag_quantile(buckets: dict[float, float], q: float) -> float:
    """The upper bound of the bucket that holds quantile `q` (cumulative counts)."""
    total = buckets.get(float("inf"), 0.0)
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return bound
    return float("inf")


async def jobs_in(database_url: str, status: str) -> int:
    """How many jobs have `status`, read on a connection of its own (read-only on SQLite)."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM jobs WHERE status = ?", (status,)).fetchone()
            return int(row[0])
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM jobs WHERE status = $1", status))
    finally:
        await conn.close()


async def load_case(args: argparse.Namespace, tmp: Path, nice: int | None) -> LoadCase:
    """One case on a new database (SQLite, or PostgreSQL with `--database postgresql`): the
    API, and unless `nice` is None a worker at that niceness with a backlog."""
    async with contextlib.AsyncExitStack() as stack:
        tag = f"load-{uuid.uuid4().hex[:6]}"
        if args.database == "postgresql":
            database_url = await stack.enter_async_context(fresh_pg())
        else:
            database_url = f"sqlite:///{tmp / tag}.sqlite3"
        case = await _load_case(args, tmp, nice, tag, database_url)
    return case


async def _load_case(
    args: argparse.Namespace, tmp: Path, nice: int | None, tag: str, database_url: str
) -> LoadCase:
    name = "rest" if nice is None else f"load, nice {nice}"
    api = start_api(tag, database_url, tmp)
    worker: subprocess.Popen[bytes] | None = None
    try:
        markdown = {"type": "markdown", "input": "# Status\n\nOne line."}
        [polled] = await submit_jobs(api.url, api.key, [markdown])
        if nice is not None:
            document = (CORPUS / f"{args.document}.html").read_text("utf-8")
            backlog = [
                {"type": "html", "input": document.replace("<head>", f"<head><!-- {i} -->")}
                for i in range(args.backlog)
            ]
            await submit_jobs(api.url, api.key, backlog)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PDFPROMPT_")}
            env.update(
                DATABASE_URL=database_url,
                PDFPROMPT_DATA_DIR=str(tmp / api.name),
                PDFPROMPT_LOG_LEVEL="warning",
                PDFPROMPT_RENDER_ENGINE="chromium",
                PDFPROMPT_WORKER_NICE=str(nice),
            )
            worker = subprocess.Popen([PDFPROMPT, "worker"], env=env, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while (
                await jobs_in(database_url, "succeeded") < 3
            ):  # its browser is warm, its slots full
                if time.monotonic() > deadline:
                    raise SystemExit("the worker finished nothing within 60 s")
                await asyncio.sleep(0.2)
        done0, t0 = await jobs_in(database_url, "succeeded"), time.perf_counter()
        poll = ("GET", f"/v1/jobs/{polled}", None)
        submit = ("POST", "/v1/jobs", markdown)
        every = round(1 / args.submit_share) if args.submit_share > 0 else 0

        def request(i: int) -> tuple[str, str, dict[str, Any] | None]:
            return submit if every and i % every == 0 else poll

        # The load client's own waits for a core are not the server's: it runs ahead of
        # the servers while it sends (setpriority: this thread alone, on Linux).
        own = os.getpriority(os.PRIO_PROCESS, 0)
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, own - CLIENT_AHEAD)
        lag0 = loop_lag_buckets(api.url)
        try:
            seconds = await open_loop(api.url, api.key, request, args.rate, args.seconds)
        finally:
            os.setpriority(os.PRIO_PROCESS, 0, own)
        lag1 = loop_lag_buckets(api.url)
        case = LoadCase(name, {"poll": [], "submit": []}, {"poll": 0, "submit": 0})
        case.loop_lag = {b: lag1[b] - lag0.get(b, 0.0) for b in lag1}
        for i, (latency, status) in enumerate(seconds):
            kind = "submit" if request(i) is submit else "poll"
            case.latencies[kind].append(latency)
            case.refused[kind] += status >= 300
        if nice is not None:
            elapsed = time.perf_counter() - t0
            case.finished_per_s = (await jobs_in(database_url, "succeeded") - done0) / elapsed
            case.left = await jobs_in(database_url, "queued")
        return case
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        api.stop()


async def under_load(args: argparse.Namespace) -> None:
    nices = [int(n) for n in args.nice.split(",") if n.strip()]
    print("# API latency under render load")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores; open loop at "
        f"{args.rate:.0f} requests/s for {args.seconds:.0f} s per case, "
        f"{args.submit_share:.0%} of them submissions, the rest polls; under load "
        f"{args.backlog} {args.document} jobs queued first; `pdfprompt api` + "
        f"`pdfprompt worker` on one {args.database} database; the load client at niceness "
        f"{os.getpriority(os.PRIO_PROCESS, 0) - CLIENT_AHEAD} where it may (root); load "
        "average before: {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    )
    cases: list[LoadCase] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        for nice in [None, *nices]:
            cases.append(await load_case(args, Path(tmp_dir), nice))
    print("load average after: {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()))
    print(
        "\n| case | request | answered | not 2xx | p50 ms | p95 ms | p99 ms | max ms "
        "| worker docs/s | jobs left queued | API loop lag p99 / max ≤ ms |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for case in cases:
        for kind, seconds in case.latencies.items():
            if not seconds:  # none of this kind asked for (--submit-share 0)
                continue
            ms = [1000 * percentile(seconds, q) for q in (0.5, 0.95, 0.99, 1.0)]
            rate = "" if case.finished_per_s is None else f"{case.finished_per_s:.1f}"
            left = "" if case.left is None else str(case.left)
            lag = ""
            if case.loop_lag:
                p99, top = (1000 * lag_quantile(case.loop_lag, q) for q in (0.99, 1.0))
                lag = f"{p99:g} / {top:g}"
            print(
                f"| {case.name} | {kind} | {len(seconds)} | {case.refused[kind]} | "
                + " | ".join(f"{v:.1f}" for v in ms)
                + f" | {rate} | {left} | {lag} |",
                flush=True,
            )
    print("\ntarget: p99 <= 50 ms for polls and submissions at the full rate under load")
    print(
        "API loop lag: the bucket bounds of `pdfprompt_event_loop_lag_seconds` holding its "
        "99th percentile and its largest sample over the case (sampled every 100 ms); a stall "
        "of the API's loop past PDFPROMPT_LOOP_STALL_MS is logged above with its stack"
    )


def report(args: argparse.Namespace, results: dict[tuple[str, str], list[Round]]) -> None:
    print("# API benchmark")
    print(
        f"python {platform.python_version()}, fastapi {version('fastapi')}, starlette "
        f"{version('starlette')}, uvicorn {version('uvicorn')}, {os.cpu_count()} cores; "
        f"{args.requests} requests per case and round over {args.connections} connections, "
        f"{args.rounds} rounds, the median round (by CPU per request) shown"
    )
    print(
        "\n| case | server | requests/s | server CPU-ms/request | all rounds | db CPU-ms/request |"
    )
    print("|---|---|---|---|---|---|")
    medians: dict[tuple[str, str], Round] = {}
    for (case, name), rounds in results.items():
        ordered = sorted(rounds, key=lambda r: r.cpu_ms)
        median = ordered[len(ordered) // 2]
        medians[(case, name)] = median
        every = ", ".join(f"{r.cpu_ms:.2f}" for r in rounds)
        db = "" if median.db_cpu_ms is None else f"{median.db_cpu_ms:.2f}"
        print(f"| {case} | {name} | {median.rate:.0f} | {median.cpu_ms:.2f} | {every} | {db} |")
    print("\nserver CPU per poll against the bare references:")
    for name in ("sqlite", "postgresql"):
        ours = medians[("poll", name)].cpu_ms
        for bare in ("bare-starlette", "bare-fastapi"):
            print(f"  {name} / {bare}: {ours / medians[('poll', bare)].cpu_ms:.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--bare-server":
        serve_bare(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        asyncio.run(main())

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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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

import psutil
from benchlib import PDFPROMPT, free_port, fresh_pg, http_requests, wait_http

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
    args = parser.parse_args()

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

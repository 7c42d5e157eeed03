"""Throughput as worker processes are added, and what a job costs the database.

    scripts/bench.sh scale [--docs invoice,report5,report20,prompt] [--workers 1,2,3]
                           [--jobs-scale F] [--rounds R] [--llm-latency-ms 2000]
                           [--db-cost-jobs 1000]
                           [--skip-scale] [--skip-db-cost] [--bed]

On a new PostgreSQL database (`PDFPROMPT_BENCH_PG_URL`'s server), with local file storage:
one `pdfprompt api` pinned with `taskset` to CPU 0, and 1, 2, then 3 `pdfprompt worker`
processes pinned to the CPU sets below (Chromium inherits its worker's set, and the render
slots follow it: one per CPU of the set). The load comes from `pdfprompt loadtest`'s code
(`pdfprompt.cli.loadgen`, in this process, pinned to CPU 0 too): for each document, a warm-up
of two jobs a worker, then its jobs at once (100 a second, more than any case renders), and
documents a second measured from the first job created to the last finished. With
`--rounds R` every case runs once a round and the median round is shown.

On a 2-core machine the CPU sets mean: 1 worker alone on CPU 1, the API, the load
generator and the database on CPU 0 (PostgreSQL is a shared server and is not pinned); 2
workers, one on CPU 1 and one sharing CPU 0 with the rest; 3 workers oversubscribed (CPU 1,
0, 1). "per worker CPU" divides by the CPUs the workers are pinned to (1, 2, 2), "per
worker CPU-second" by the CPU time the workers' process trees used.

`--bed`: the same cases on the fault tests' multi-host bed (tests/support/testbed; root):
PostgreSQL (a cluster of its own, fsync on) and moto's S3 server on hosts of their own, the
API on its host, the workers on 1, 2, 3 worker hosts, the load from the bed's client host
over the bed's network; each host's processes pinned as above (the database, the store,
the fake LLM and the API on CPU 0), and the workers with the default render slots. The
database cost is measured locally either way.

`prompt` jobs go to `pdfprompt dev fake-llm` (every answer after `--llm-latency-ms`, on CPU 0)
with each worker's default 8 job slots.

The database cost (`--db-cost-jobs` invoice jobs, API + 2 workers, on another new database):
deltas of `pg_stat_database` (commits, rollbacks, rows inserted, updated, deleted), taken
before the processes start and after they stopped (a backend reports its counts when it
ends); the WAL the run wrote for this database (`pg_walinspect`: the records that touch its
relations, and every record of the transactions that wrote them; the cluster's whole WAL
advance, `pg_current_wal_flush_lsn()`, is shown beside it, as other databases of a shared server
write to it too); table sizes (`pg_total_relation_size`) before and after; and the most
connections to PostgreSQL each process held at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from benchlib import PDFPROMPT, free_port, fresh_pg, tree, wait_http
from sqlalchemy.engine import make_url

from pdfprompt.cli.loadgen import report, run_load

WORKER_CPUS = {1: ["1"], 2: ["1", "0"], 3: ["1", "0", "1"]}
API_CPUS = "0"
JOBS = {"invoice": 240, "report5": 150, "report20": 48, "prompt": 96}
RATE = 100.0


def env_for(url: str, data: Path, llm_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDFPROMPT_", "DATABASE_"))}
    env.update(
        DATABASE_URL=url,
        PDFPROMPT_DATA_DIR=str(data),
        PDFPROMPT_LOG_LEVEL="warning",
        PDFPROMPT_RENDER_ENGINE="chromium",
        PDFPROMPT_MAX_CONCURRENT_JOBS="1000",
        OPENROUTER_API_KEY="sk-bench",
        OPENROUTER_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
        PDFPROMPT_LLM_MODELS="fake",
    )
    return env


def start(cpus: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", cpus, PDFPROMPT, *args], env=env, stdout=subprocess.DEVNULL
    )


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(60)


def cpu_s(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@contextlib.contextmanager
def deployment(
    url: str, tmp: Path, llm_port: int
) -> Iterator[tuple[str, str, dict[str, str], int]]:
    """`pdfprompt api` on CPU 0 over a migrated `url`: (its URL, an API key, the env, its
    process id)."""
    env = env_for(url, tmp / f"data-{uuid.uuid4().hex[:6]}", llm_port)
    subprocess.run([PDFPROMPT, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    api = start(API_CPUS, env, "api", "--port", str(port))
    try:
        server = f"http://127.0.0.1:{port}"
        wait_http(f"{server}/readyz")
        made = subprocess.run(
            [PDFPROMPT, "users", "create", f"scale-{uuid.uuid4().hex[:6]}@example.com"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        yield server, made.stdout.strip().splitlines()[-1], env, api.pid
    finally:
        stop([api])


async def measure(server: str, key: str, kind: str, jobs: int) -> dict[str, Any]:
    run = await run_load(server, key, [kind] * jobs, RATE, timeout_s=600)
    failed = [o.error for o in run.outcomes if o.status != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} {kind} jobs did not succeed: {failed[:5]}")
    return report(run, server)


@dataclass
class Deployment:
    """Where the load goes and how workers come and go: local processes or the test bed's
    hosts."""

    server: str
    key: str
    api_pid: int
    start_workers: Callable[[int], list[int]]  # n workers on their CPUs: their pids
    stop_workers: Callable[[], None]
    load: Callable[[str, int], Awaitable[dict[str, Any]]]  # (kind, jobs): measure()'s report


async def case(d: Deployment, kind: str, n: int, jobs: int) -> dict[str, float]:
    """`n` workers started on their CPUs, warmed up, then `jobs` of `kind`: docs/s, the CPU
    seconds the workers' and the API's process trees used, and p50/p95 total latency."""
    workers = d.start_workers(n)
    try:
        await d.load(kind, 2 * n)  # warm-up: the browsers are up
        before = sum(cpu_s(w) for w in workers)
        api_before = cpu_s(d.api_pid)
        found = await d.load(kind, jobs)
        used = sum(cpu_s(w) for w in workers) - before
        api_used = cpu_s(d.api_pid) - api_before
    finally:
        d.stop_workers()
    total = found["latency_s"]["total"]
    return {
        "rate": found["throughput"]["jobs_per_s"],
        "per_cpu_s": found["succeeded"] / used,
        "worker_cpu_s": used,
        "api_cpu_s": api_used,
        "p50": total["p50"],
        "p95": total["p95"],
    }


@contextlib.contextmanager
def local_deployment(url: str, tmp: Path, llm_port: int) -> Iterator[Deployment]:
    """`pdfprompt api` and workers as processes of this machine, on one loopback."""
    with deployment(url, tmp, llm_port) as (server, key, env, api_pid):
        running: list[subprocess.Popen[bytes]] = []

        def start_workers(n: int) -> list[int]:
            running[:] = [start(c, env, "worker") for c in WORKER_CPUS[n]]
            return [w.pid for w in running]

        def load(kind: str, jobs: int) -> Awaitable[dict[str, Any]]:
            return measure(server, key, kind, jobs)

        yield Deployment(server, key, api_pid, start_workers, lambda: stop(running), load)


@contextlib.contextmanager
def bed_deployment(llm_latency_ms: int) -> Iterator[Deployment]:
    """The fault tests' multi-host bed (tests/support/testbed; root): PostgreSQL (fsync on)
    and moto's S3 server on hosts of their own, the API on its host, the worker hosts' workers
    started as asked; every host's processes pinned as the local case pins them (the
    database, the store, the API and the load generator on CPU 0; workers on 1, 0, 1); the
    bed's fake model answers after `llm_latency_ms`. The load comes from the bed's client
    host, over the bed's network."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.testbed.hosts import WORKERS, BedConfig, bed
    from tests.support.testbed.net import can_make_namespaces

    problem = can_make_namespaces()
    if problem is not None:
        raise SystemExit(f"scale bench --bed: {problem}")
    cpus = {h: API_CPUS for h in ("pg", "s3", "llm", "hook", "api1", "api2", "client")}
    cpus |= dict(zip(WORKERS, WORKER_CPUS[3], strict=True))
    config = BedConfig(
        lease_s=30,
        poll_ms=500,
        worker_concurrency=8,
        per_user_cap=1000,
        fsync=True,
        skewed_worker=None,
        workers=(),
        cpus=cpus,
        render_slots=None,  # one per CPU of the worker's set, as in production
    )
    with bed(config) as made:

        def model_latency() -> None:
            answer = httpx.post(f"{made.llm_url}/_control", json={"latency_ms": llm_latency_ms})
            answer.raise_for_status()

        made.on_client(model_latency)
        email = f"scale-{uuid.uuid4().hex[:6]}@example.com"
        key = made.cli("users", "create", email, "--plan", "enterprise").strip().splitlines()[-1]
        api = made.services["api1"]
        assert api.proc is not None
        server = made.api_url("api1")
        started: list[str] = []

        def start_workers(n: int) -> list[int]:
            started[:] = list(WORKERS[:n])
            pids = []
            for name in started:
                proc = made.start_worker(name).proc
                assert proc is not None
                pids.append(proc.pid)
            return pids

        def stop_workers() -> None:
            for name in started:
                made.services[name].stop()

        async def load(kind: str, jobs: int) -> dict[str, Any]:
            def on_client() -> dict[str, Any]:
                return asyncio.run(measure(server, key, kind, jobs))

            return await asyncio.to_thread(made.on_client, on_client)

        yield Deployment(server, key, api.proc.pid, start_workers, stop_workers, load)


async def scale(args: argparse.Namespace, tmp: Path, llm_port: int) -> None:
    """Every document with every worker count, round after round (so that a busy spell of a
    shared machine falls on all cases alike); the median round of each case."""
    found: dict[tuple[str, int], list[dict[str, float]]] = {}
    async with contextlib.AsyncExitStack() as stack:
        if args.bed:
            d = stack.enter_context(bed_deployment(args.llm_latency_ms))
        else:
            url = await stack.enter_async_context(fresh_pg())
            d = stack.enter_context(local_deployment(url, tmp, llm_port))
        for r in range(args.rounds):
            for kind in args.docs:
                jobs = max(4, round(JOBS[kind] * args.jobs_scale))
                for n in args.workers:
                    one = await case(d, kind, n, jobs)
                    found.setdefault((kind, n), []).append(one)
                    print(
                        f"round {r + 1}: {kind} x{jobs}, {n} workers: {one['rate']:.2f} "
                        f"docs/s, {one['per_cpu_s']:.2f} per worker CPU-s",
                        file=sys.stderr,
                        flush=True,
                    )
    where = "the multi-host bed (network namespaces)" if args.bed else "local processes"
    print(f"\n## Throughput by worker processes on {where} (median of {args.rounds} rounds)\n")
    print(
        "| document | workers (CPUs) | docs/s (rounds) | ÷ 1 worker | per worker CPU | "
        "docs per worker CPU-s | worker CPU-s | API CPU-s | p50 / p95 total s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.docs:
        jobs = max(4, round(JOBS[kind] * args.jobs_scale))
        first = 0.0
        for n in args.workers:
            rounds = found[(kind, n)]
            mid = sorted(rounds, key=lambda x: x["rate"])[len(rounds) // 2]
            rate = mid["rate"]
            first = first or rate
            cpus = WORKER_CPUS[n]
            each = " ".join(f"{x['rate']:.1f}" for x in rounds)
            print(
                f"| {kind} x{jobs} | {n} ({','.join(cpus)}) | {rate:.2f} ({each}) | "
                f"{rate / first:.2f} | {rate / len(set(cpus)):.2f} | "
                f"{statistics.median(x['per_cpu_s'] for x in rounds):.2f} | "
                f"{mid['worker_cpu_s']:.1f} | {mid['api_cpu_s']:.1f} | "
                f"{mid['p50']:.2f} / {mid['p95']:.2f} |",
                flush=True,
            )


async def db_stats(admin: asyncpg.Connection, name: str) -> dict[str, Any]:
    row = await admin.fetchrow(
        "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,"
        " tup_returned, tup_fetched, pg_current_wal_flush_lsn()::text AS lsn"
        " FROM pg_stat_database WHERE datname = $1",
        name,
    )
    return dict(row)


async def table_sizes(db: asyncpg.Connection) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT c.relname, pg_total_relation_size(c.oid) AS size FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r'"
    )
    return {r["relname"]: r["size"] for r in rows}


async def wal_of(db: asyncpg.Connection, start: str, end: str) -> tuple[int, int]:
    """(records, bytes) of the WAL from `start` to `end` written for this database."""
    oid = await db.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
    row = await db.fetchrow(
        "WITH r AS (SELECT xid::text AS xid, record_length, block_ref"
        "  FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)),"
        " ours AS (SELECT DISTINCT xid FROM r WHERE block_ref LIKE $3 AND xid <> '0')"
        " SELECT count(*) AS n, coalesce(sum(record_length), 0) AS bytes FROM r"
        " WHERE block_ref LIKE $3 OR xid IN (SELECT xid FROM ours)",
        start,
        end,
        f"%rel %/{oid}/%",
    )
    return row["n"], row["bytes"]


def lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class Wal:
    """The WAL written for this database, read as it is written: a busy shared server may
    recycle a segment before the run ends, and pg_walinspect reads only what is still
    there. Each read covers `last` to `pg_current_wal_flush_lsn()` (a record belongs to the read
    where it starts); at most one read every 2 s."""

    def __init__(self, db: asyncpg.Connection, start: str) -> None:
        self.db, self.last, self.records, self.bytes = db, start, 0, 0
        self.lost: str | None = None
        self.when = time.monotonic()

    async def read(self, end: str | None = None) -> None:
        if end is None:
            if time.monotonic() - self.when < 2.0:
                return
            end = await self.db.fetchval("SELECT pg_current_wal_flush_lsn()::text")
        if lsn(end) <= lsn(self.last):
            return  # nothing written since: pg_walinspect refuses a start at the end
        if self.lost is None:
            try:
                n, size = await wal_of(self.db, self.last, end)
            except asyncpg.UndefinedFileError as exc:  # recycled before it was read
                self.lost = str(exc)
            else:
                self.records, self.bytes = self.records + n, self.bytes + size
        self.last = end
        self.when = time.monotonic()


def backends_cpu_s(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `database` (by process title)."""
    found = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if p.info["name"] == "postgres" and database in " ".join(p.info["cmdline"] or []):
                t = p.cpu_times()
                found[p.pid] = t.user + t.system
    return found


def pg_connections(pid: int) -> int:
    n = 0
    for p in tree(pid):
        with contextlib.suppress(psutil.Error):
            n += sum(
                1
                for c in p.net_connections("tcp")
                if c.raddr and c.raddr.port == 5432 and c.status == psutil.CONN_ESTABLISHED
            )
    return n


async def db_cost(args: argparse.Namespace, tmp: Path, llm_port: int) -> None:
    jobs = args.db_cost_jobs
    print(f"\n## Database cost: {jobs} invoice jobs, API + 2 workers, a dedicated database\n")
    async with fresh_pg() as url:
        name = make_url(url).database
        db = await asyncpg.connect(url)
        await db.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        try:
            with deployment(url, tmp, llm_port) as (server, key, env, api_pid):
                sizes0 = await table_sizes(db)
                await db.execute("SELECT pg_stat_force_next_flush()")
                # The API already runs; its idle reads are in the counts, as in production.
                s0 = await db_stats(db, name)
                db_cpu0 = backends_cpu_s(name)
                workers = [start(c, env, "worker") for c in WORKER_CPUS[2]]
                try:
                    roles_cpu0 = cpu_s(api_pid)
                    peak = {"api": 0, "worker": 0}
                    task = asyncio.create_task(
                        run_load(server, key, ["invoice"] * jobs, 20.0, timeout_s=600)
                    )
                    wal = Wal(db, s0["lsn"])
                    while not task.done():
                        peak["api"] = max(peak["api"], pg_connections(api_pid))
                        peak["worker"] = max(
                            peak["worker"], *(pg_connections(w.pid) for w in workers)
                        )
                        await asyncio.wait([task], timeout=0.5)
                        await wal.read()
                    run = task.result()
                    db_cpu = backends_cpu_s(name)
                    roles_cpu = cpu_s(api_pid) + sum(cpu_s(w.pid) for w in workers)
                finally:
                    stop(workers)
            # The API stopped too: every backend has reported its counts.
            await db.execute("SELECT pg_stat_force_next_flush()")
            await asyncio.sleep(1.0)
            s1 = await db_stats(db, name)
            sizes1 = await table_sizes(db)
            await wal.read(s1["lsn"])
            records, wal_bytes = wal.records, wal.bytes
            cluster = await db.fetchval(
                "SELECT $1::text::pg_lsn - $2::text::pg_lsn", s1["lsn"], s0["lsn"]
            )
        finally:
            await db.close()
    found = report(run, "")
    print(f"jobs succeeded: {found['succeeded']} of {jobs}; errors: {found['errors_by_code']}\n")
    if found["succeeded"] != jobs:
        raise SystemExit("every job must succeed for the figures per job to hold")
    print("| per job | value |\n|---|---|")
    for field in ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted"):
        print(f"| {field} | {(s1[field] - s0[field]) / jobs:.2f} |")
    for field in ("tup_returned", "tup_fetched"):
        print(f"| {field} | {(s1[field] - s0[field]) / jobs:.1f} |")
    used = sum(v - db_cpu0.get(pid, 0.0) for pid, v in db_cpu.items())
    print(f"| PostgreSQL backends' CPU-ms (this database's) | {used * 1000 / jobs:.2f} |")
    roles = (roles_cpu - roles_cpu0) * 1000 / jobs
    print(f"| API + workers CPU-ms (process trees; the workers' start included) | {roles:.1f} |")
    if wal.lost:
        print(f"| WAL for this database | not measured: {wal.lost} |")
    else:
        print(f"| WAL records for this database | {records / jobs:.1f} |")
        print(f"| WAL bytes for this database | {wal_bytes / jobs:,.0f} |")
    print(f"| (the cluster's whole WAL advance, all databases) | {float(cluster) / jobs:,.0f} |")
    print("\n| table | bytes before | bytes after | growth per 1,000 jobs |\n|---|---|---|---|")
    for table in sorted(sizes1, key=lambda t: -(sizes1[t] - sizes0.get(t, 0))):
        grown = sizes1[table] - sizes0.get(table, 0)
        if grown:
            print(
                f"| {table} | {sizes0.get(table, 0):,} | {sizes1[table]:,} | "
                f"{grown * 1000 / jobs:,.0f} |"
            )
    total = sum(sizes1.values()) - sum(sizes0.values())
    print(f"| all tables | | | {total * 1000 / jobs:,.0f} |")
    print(
        f"\nmost PostgreSQL connections held at once: API {peak['api']}, "
        f"a worker {peak['worker']} (sampled every 0.5 s)"
    )


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", default="invoice,report5,report20,prompt")
    p.add_argument("--workers", default="1,2,3")
    p.add_argument("--jobs-scale", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--llm-latency-ms", type=int, default=2000)
    p.add_argument("--db-cost-jobs", type=int, default=1000)
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--skip-db-cost", action="store_true")
    p.add_argument(
        "--bed",
        action="store_true",
        help="workers on the multi-host test bed's hosts (root; the database cost stays local)",
    )
    args = p.parse_args()
    args.docs = [d for d in args.docs.split(",") if d]
    args.workers = [int(n) for n in args.workers.split(",") if n]
    unknown = [d for d in args.docs if d not in JOBS] + [
        str(n) for n in args.workers if n not in WORKER_CPUS
    ]
    if unknown:
        raise SystemExit(f"unknown: {unknown}")
    os.sched_setaffinity(0, {0})  # the load generator shares CPU 0 with the API
    load = os.getloadavg()
    print(
        f"# scale bench: {platform.platform()}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
        f"at the start, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    llm_port = free_port()
    llm = subprocess.Popen(
        [
            *("taskset", "-c", "0", PDFPROMPT, "dev", "fake-llm", "--port", str(llm_port)),
            *("--stream", "--latency-ms", str(args.llm_latency_ms)),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{llm_port}/_calls")
        with tempfile.TemporaryDirectory() as tmp:
            if not args.skip_scale:
                await scale(args, Path(tmp), llm_port)
            if not args.skip_db_cost:
                await db_cost(args, Path(tmp), llm_port)
    finally:
        llm.terminate()
        llm.wait(10)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())

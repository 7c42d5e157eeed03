"""Queue benchmarks: throughput of no-op jobs, pickup latency, fairness.

    scripts/bench.sh queue [--jobs 5000] [--concurrency 16] [--rounds 3]

Throughput runs pdfprompt (PostgreSQL and SQLite), procrastinate and PgQueuer on
the same PostgreSQL server in one run, each on a fresh database, each draining
the same number of pre-enqueued no-op jobs with the same concurrency, and prints
jobs per second with each system's ratio to the fastest peer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import asyncpg
from benchlib import PG_ADMIN, fresh_pg
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.db import create_engine, jobs, upgrade
from pdfprompt.domain import JobType, new_id
from pdfprompt.queue import (
    JobContext,
    NewJob,
    PostgresWakeup,
    StoredFile,
    Wakeup,
    Worker,
    WorkerConfig,
    job_store_for,
)
from pdfprompt.settings import Settings


@dataclass
class Result:
    system: str
    database: str
    jobs: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


# -- pdfprompt ------------------------------------------------------------------------------


async def _noop(ctx: JobContext) -> StoredFile:
    return StoredFile(f"bench/{ctx.job.id}.pdf", 1, 1, "0" * 64, "bench.pdf")


async def _discard(_key: str) -> None:
    return None


async def _bulk_jobs(engine: AsyncEngine, user_id: str, n: int) -> None:
    rows = [
        {
            "id": new_id(),
            "user_id": user_id,
            "type": "markdown",
            "input": "x",
            "options": {},
            "status": "queued",
            "stage": "queued",
            "max_attempts": 3,
        }
        for _ in range(n)
    ]
    async with engine.begin() as conn:
        for i in range(0, n, 2000):
            await conn.execute(insert(jobs), rows[i : i + 2000])


async def _pdfprompt_engine(url: str) -> AsyncEngine:
    engine = create_engine(Settings(database_url=url, database_max_connections=20))
    await upgrade(engine)
    return engine


def _config(concurrency: int) -> WorkerConfig:
    return WorkerConfig(
        concurrency=concurrency,
        batch_size=concurrency,
        poll_ms=50,
        per_user_cap=1_000_000,
    )


async def bench_pdfprompt(url: str, n: int, concurrency: int, label: str) -> Result:
    engine = await _pdfprompt_engine(url)
    try:
        store = job_store_for(engine)
        user = (await AccountStore(engine).create_user("bench@example.com", "enterprise")).id
        await _bulk_jobs(engine, user, n)
        worker = Worker(store, _noop, _discard, _config(concurrency))
        t0 = time.perf_counter()
        await worker.run(burst=True)
        seconds = time.perf_counter() - t0
        assert worker.completed == n, (worker.completed, n)
    finally:
        await engine.dispose()
    return Result("pdfprompt", label, n, seconds)


# -- peers ----------------------------------------------------------------------------------


async def bench_procrastinate(url: str, n: int, concurrency: int) -> Result:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, max_size=20))
    done = 0

    @app.task(name="noop")
    async def noop() -> None:
        nonlocal done
        done += 1

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        for i in range(0, n, 2000):
            await noop.batch_defer_async(*({} for _ in range(min(2000, n - i))))
        t0 = time.perf_counter()
        await app.run_worker_async(
            concurrency=concurrency,
            wait=False,
            install_signal_handlers=False,
            fetch_job_polling_interval=0.05,
        )
        seconds = time.perf_counter() - t0
    assert done == n, (done, n)
    return Result("procrastinate", "postgresql", n, seconds)


async def bench_pgqueuer(url: str, n: int, concurrency: int) -> Result:
    from pgqueuer import QueueManager
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(url)
    try:
        queries = Queries(AsyncpgDriver(conn))
        await queries.install()
        for i in range(0, n, 2000):
            size = min(2000, n - i)
            await queries.enqueue(["noop"] * size, [None] * size, [0] * size)
        qm = QueueManager(Queries(AsyncpgDriver(conn)))
        done = 0

        @qm.entrypoint("noop")
        async def noop(job: Job) -> None:
            nonlocal done
            done += 1

        t0 = time.perf_counter()
        await qm.run(
            batch_size=max(1, concurrency // 2),  # PgQueuer requires 2 x batch <= tasks
            mode=QueueExecutionMode.drain,
            max_concurrent_tasks=concurrency,
            log_aggregation_interval=timedelta(0),
        )
        seconds = time.perf_counter() - t0
    finally:
        await conn.close()
    assert done == n, (done, n)
    return Result("pgqueuer", "postgresql", n, seconds)


# -- latency and fairness -------------------------------------------------------------------


async def bench_pickup_latency(url: str, samples: int, spacing_s: float) -> list[float]:
    """Enqueue one job at a time to an idle worker; latency = claim time - creation time
    (both from the database clock)."""
    engine = await _pdfprompt_engine(url)
    try:
        store = job_store_for(engine)
        user = (await AccountStore(engine).create_user("lat@example.com", "enterprise")).id
        async with PostgresWakeup(_plain(url)) as wakeup:
            await wakeup.connected.wait()
            worker = Worker(store, _noop, _discard, _config(4), wakeup=wakeup)
            task = asyncio.create_task(worker.run())
            await asyncio.sleep(0.5)
            ids = []
            for _ in range(samples):
                ids.append((await store.enqueue(NewJob(user, JobType.MARKDOWN, "x", {}, 3))).id)
                await asyncio.sleep(spacing_s)
            while worker.completed < samples:
                await asyncio.sleep(0.05)
            worker.stop()
            await task
        return await _pickup(engine, ids)
    finally:
        await engine.dispose()


async def _pickup(engine: AsyncEngine, ids: list[str]) -> list[float]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(jobs.c.created_at, jobs.c.started_at).where(jobs.c.id.in_(ids))
            )
        ).all()
    return sorted((s - c).total_seconds() for c, s in rows)


async def bench_fairness(url: str, backlog: int, concurrency: int, label: str) -> float:
    """Seconds from user B's single job being created to its claim, behind user A's backlog."""
    engine = await _pdfprompt_engine(url)
    try:
        store = job_store_for(engine)
        accounts = AccountStore(engine)
        a = (await accounts.create_user("a@example.com", "enterprise")).id
        b = (await accounts.create_user("b@example.com", "enterprise")).id
        await _bulk_jobs(engine, a, backlog)
        slow_config = WorkerConfig(concurrency=concurrency, batch_size=concurrency, poll_ms=50)

        async def slow(ctx: JobContext) -> StoredFile:
            await asyncio.sleep(0.01)  # a job takes 10 ms: the backlog lasts a while
            return await _noop(ctx)

        worker = Worker(store, slow, _discard, slow_config, wakeup=Wakeup())
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(1.0)  # the backlog is being worked on
        single = await store.enqueue(NewJob(b, JobType.MARKDOWN, "x", {}, 3))
        worker.wakeup.notify()
        while (await store.get(single.id)).started_at is None:
            await asyncio.sleep(0.005)
        worker.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return (await _pickup(engine, [single.id]))[0]
    finally:
        await engine.dispose()


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# -- driver ---------------------------------------------------------------------------------


async def _in_pg(run: Callable[[str], Awaitable[Result]]) -> Result:
    async with fresh_pg() as url:
        return await run(url)


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="throughput runs per system; the median is shown"
    )
    args = parser.parse_args()
    n, c = args.jobs, args.concurrency

    admin = await asyncpg.connect(PG_ADMIN)
    pg_version = await admin.fetchval("SHOW server_version")
    await admin.close()
    print("# queue benchmark")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cpus, PostgreSQL {pg_version}, "
        f"pdfprompt {version('pdfprompt')}, procrastinate {version('procrastinate')}, "
        f"pgqueuer {version('pgqueuer')}"
    )
    print(
        f"{n} no-op jobs, concurrency {c}, each system on a fresh database, "
        f"{args.rounds} rounds taken in turn; median of the rounds\n"
    )

    async def sqlite_run() -> Result:
        with tempfile.TemporaryDirectory() as tmp:
            return await bench_pdfprompt(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", n, c, "sqlite")

    systems: list[Callable[[], Awaitable[Result]]] = [
        lambda: _in_pg(lambda u: bench_pdfprompt(u, n, c, "postgresql")),
        lambda: _in_pg(lambda u: bench_procrastinate(u, n, c)),
        lambda: _in_pg(lambda u: bench_pgqueuer(u, n, c)),
        sqlite_run,
    ]
    rounds: list[list[Result]] = [[] for _ in systems]
    for _ in range(args.rounds):  # interleaved, so a slow moment of the machine hits all
        for runs, run in zip(rounds, systems, strict=True):
            runs.append(await run())
    results = [sorted(runs, key=lambda r: r.rate)[len(runs) // 2] for runs in rounds]

    best_peer = max(r.rate for r in results if r.system != "pdfprompt")
    print(
        "| system | database | jobs | seconds | jobs/s (median) | all rounds "
        "| ratio to fastest peer |"
    )
    print("|---|---|---|---|---|---|---|")
    for r, runs in zip(results, rounds, strict=True):
        every = ", ".join(f"{x.rate:.0f}" for x in runs)
        print(
            f"| {r.system} | {r.database} | {r.jobs} | {r.seconds:.2f} | {r.rate:.0f} | "
            f"{every} | {r.rate / best_peer:.2f}x |"
        )

    async with fresh_pg() as url:
        lat = await bench_pickup_latency(url, args.latency_samples, 0.02)
    print(
        f"\npickup latency (PostgreSQL, NOTIFY, idle worker, {len(lat)} jobs 20 ms apart): "
        f"p50 {_percentile(lat, 0.5) * 1000:.1f} ms, p95 {_percentile(lat, 0.95) * 1000:.1f} ms, "
        f"max {max(lat) * 1000:.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms"
    )
    async with fresh_pg() as url:
        pg_fair = await bench_fairness(url, args.backlog, c, "postgresql")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_fair = await bench_fairness(
            f"sqlite:///{Path(tmp) / 'fair.sqlite3'}", args.backlog, c, "sqlite"
        )
    print(
        f"fairness: user B's single job behind user A's {args.backlog}-job backlog "
        f"(10 ms jobs, concurrency {c}) was claimed {pg_fair * 1000:.0f} ms after creation on "
        f"PostgreSQL, {sqlite_fair * 1000:.0f} ms on SQLite"
    )


if __name__ == "__main__":
    asyncio.run(main())

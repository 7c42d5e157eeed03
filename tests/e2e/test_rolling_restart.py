"""A rolling restart on PostgreSQL: two workers share a backlog; one is sent SIGTERM while it
runs jobs and finishes them within its grace, a replacement starts, then the other is sent
SIGTERM with a grace too short for its jobs and hands them back. Every job succeeds exactly
once (one worker says it finished it, one file row, one stored PDF), each in one counted
attempt: an attempt handed back at shutdown is given back."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import asyncpg
import pytest

from tests.support.jobs import Split, split_service
from tests.support.processes import Process, service_env
from tests.support.waiting import wait_until

# Two batches: the second goes in after the first worker stopped, so the second worker has
# work to hold when its turn comes even if the others drained the first batch meanwhile.
BATCHES = (16, 8)
JOBS = sum(BATCHES)
# About forty pages: long enough that a worker is sent its signal while it runs some.
LONG_DOC = "\n\n".join(f"## Part {i}\n\n" + "Lorem ipsum dolor sit amet. " * 120 for i in range(40))


def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _running_on(url: str, worker: Process) -> set[str]:
    """The jobs `worker` holds now (its id is host:pid:random)."""
    assert worker.proc is not None
    rows = _fetch(
        url,
        "SELECT id FROM jobs WHERE status = 'running' AND lease_owner LIKE $1",
        f"%:{worker.proc.pid}:%",
    )
    return {r["id"] for r in rows}


def _succeeded_in(worker: Process) -> list[str]:
    return re.findall(r"job (\S+) succeeded in", worker.log())


def _stop_while_running(split: Split, url: str, worker: Process, timeout_s: float) -> set[str]:
    """SIGTERM `worker` once it holds a job; the jobs it held then. It must exit 0."""
    held = wait_until(lambda: _running_on(url, worker), 120, "the worker running a job")
    assert worker.stop(signal.SIGTERM, timeout_s=timeout_s) == 0, worker.log()
    assert "stopping: finishing running jobs" in worker.log()
    assert not _running_on(url, worker)  # nothing left under its name
    return held


@pytest.mark.timeout(900)  # 24 forty-page jobs and four worker starts; minutes on a busy machine
def test_rolling_restart_loses_nothing_and_runs_nothing_twice(pg_url: str, tmp_path: Path) -> None:
    env = service_env(
        tmp_path / "data",
        pg_url,
        PDFPROMPT_WORKER_CONCURRENCY="2",
        MAX_PDF_CONCURRENCY="1",
        PDFPROMPT_SHUTDOWN_GRACE_S="60",
    )
    with split_service(env, tmp_path, "rolling@example.com") as split:
        c, first = split.client, split.worker
        second = split.add_worker(PDFPROMPT_SHUTDOWN_GRACE_S="0.05")
        ids: list[str] = []

        def submit(n: int) -> None:
            for _ in range(n):
                doc = f"# {len(ids)}\n\n{LONG_DOC}"
                answer = c.post("/v1/jobs", json={"type": "markdown", "input": doc})
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["id"])

        submit(BATCHES[0])

        # The first finishes what it runs within its grace of a minute.
        finished_by_first = _stop_while_running(split, pg_url, first, timeout_s=90)
        assert set(_succeeded_in(first)) >= finished_by_first, first.log()
        assert "back to the queue" not in first.log()
        split.add_worker()
        submit(BATCHES[1])

        # The second's grace is too short for a forty-page render: it hands its jobs back.
        held_by_second = _stop_while_running(split, pg_url, second, timeout_s=30)
        handed_back = held_by_second - set(_succeeded_in(second))
        if handed_back:
            assert "back to the queue" in second.log(), second.log()
        split.add_worker()

        jobs = {}
        for job_id in ids:
            jobs[job_id] = wait_until(
                lambda job_id=job_id: (
                    j
                    if (j := c.get(f"/v1/jobs/{job_id}").json())["status"] == "succeeded"
                    else None
                ),
                240,
                f"job {job_id} succeeded",
                every_s=0.2,
            )

    assert [j["attempts"] for j in jobs.values()] == [1] * JOBS, [
        (i, j["attempts"]) for i, j in jobs.items() if j["attempts"] != 1
    ]
    # Each job finished by exactly one worker, once.
    finished = [job_id for worker in split.workers for job_id in _succeeded_in(worker)]
    assert sorted(finished) == sorted(ids)
    # One file row per job, its PDF stored. An attempt cut short while it stored its PDF
    # leaves an object no row names, which the orphan sweep deletes an hour later: only the
    # jobs handed back may have one.
    rows = _fetch(pg_url, "SELECT job_id, storage_key FROM files")
    assert sorted(r["job_id"] for r in rows) == sorted(ids)
    files = tmp_path / "data" / "files"
    stored = {str(p.relative_to(files)) for p in files.rglob("*.pdf")}
    assert {r["storage_key"] for r in rows} <= stored
    strays = stored - {r["storage_key"] for r in rows}
    assert all(any(job_id in key for job_id in handed_back) for key in strays), strays
    print(
        f"\nhanded back by the second worker: {len(handed_back)}; held by the first: "
        f"{len(finished_by_first)}"
    )

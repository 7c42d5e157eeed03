"""Scale-out on PostgreSQL: one API node and two worker processes share the work."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import Process, cli, create_key, service_env, start_server

JOBS = 200


def test_two_workers_share_200_jobs_each_done_once(empty_pg_url: str, tmp_path: Path) -> None:
    env = service_env(tmp_path / "data", empty_pg_url, PDFPROMPT_WORKER_CONCURRENCY="4")
    # A new PostgreSQL database: the API refuses to start until it is migrated.
    refused = cli(env, "users", "list", check=False)
    assert refused.returncode != 0 and "pdfprompt db upgrade" in refused.stderr
    cli(env, "db", "upgrade")
    key = create_key(env, "load@example.com")

    api = start_server("api", env, tmp_path / "api.log")
    workers = [Process(["worker"], env, tmp_path / f"worker{i}.log").start() for i in range(2)]
    started = time.monotonic()
    try:
        with httpx.Client(
            base_url=api.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            ids = []
            for i in range(JOBS):
                body = (
                    {"type": "markdown", "input": f"# Job {i}\n\nbody of job {i}"}
                    if i % 2
                    else {"type": "html", "input": f"<h1>Job {i}</h1><p>html job {i}</p>"}
                )
                response = c.post("/v1/jobs", json=body)
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            jobs = _wait_all(c, set(ids), timeout_s=240)
        elapsed = time.monotonic() - started
    finally:
        for w in workers:
            w.stop()
        api.stop()
    print(
        f"\n{JOBS} jobs on 2 workers: {elapsed:.1f} s ({JOBS / elapsed:.1f} jobs/s)",
        file=sys.stderr,
    )

    assert all(j["status"] == "succeeded" for j in jobs.values()), [
        j for j in jobs.values() if j["status"] != "succeeded"
    ][:3]
    assert all(j["attempts"] == 1 for j in jobs.values())
    assert len({j["file"]["id"] for j in jobs.values()}) == JOBS

    # Each job was finished by exactly one worker, and both workers took part.
    done_by = [re.findall(r"job (\S+) succeeded", w.log()) for w in workers]
    assert all(len(d) > 0 for d in done_by), [len(d) for d in done_by]
    finished = [job_id for d in done_by for job_id in d]
    assert sorted(finished) == sorted(ids)

    # Exactly one file row and one stored object per job.
    rows = _file_rows(empty_pg_url)
    assert sorted(job_id for job_id, _ in rows) == sorted(ids)
    stored = sorted(p.name for p in (tmp_path / "data" / "files").rglob("*.pdf"))
    assert len(stored) == JOBS
    assert sorted(Path(key).name for _, key in rows) == stored


def _wait_all(c: httpx.Client, ids: set[str], timeout_s: float) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found: dict[str, dict[str, object]] = {}
        cursor = None
        while True:
            params: dict[str, object] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/v1/jobs", params=params).json()
            found.update({j["id"]: j for j in page["items"]})
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert set(found) == ids
        if all(j["status"] in ("succeeded", "failed", "canceled") for j in found.values()):
            return found
        time.sleep(0.5)
    raise AssertionError("jobs did not finish in time")


def _file_rows(url: str) -> list[tuple[str, str]]:
    import asyncio

    import asyncpg

    async def fetch() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT job_id, storage_key FROM files")
        finally:
            await conn.close()
        return [(r["job_id"], r["storage_key"]) for r in rows]

    return asyncio.run(fetch())

"""The queue under real processes: streams, crashes, restarts and concurrent duplicates."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdfprompt.render import process_tree
from tests.support.databases import IN_CI, free_port
from tests.support.jobs import SLOW_MARKDOWN, read_sse, split_service, wait_final
from tests.support.processes import (
    Process,
    alive,
    cli,
    create_key,
    service_env,
    start_server,
)
from tests.support.waiting import wait_until

LONG_DOC = "\n\n".join(f"## Part {i}\n\n" + "Lorem ipsum dolor sit amet. " * 120 for i in range(40))


def wait_all(c: httpx.Client, ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = {i: c.get(f"/v1/jobs/{i}").json() for i in ids}
        if all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs.values()):
            return jobs
        time.sleep(0.3)
    states = [c.get(f"/v1/jobs/{i}").json()["status"] for i in ids]
    raise AssertionError(f"jobs not finished after {timeout_s}s: {states}")


def submit_long(c: httpx.Client, n: int) -> list[str]:
    """`n` jobs that take a while to render (about 40 pages each)."""
    return [
        c.post("/v1/jobs", json={"type": "markdown", "input": LONG_DOC}).json()["id"]
        for _ in range(n)
    ]


def wait_for(c: httpx.Client, status: str, count: int, proc: Process) -> list[dict[str, Any]]:
    """Poll until at least `count` of the caller's jobs have `status` (a generous bound: the
    suite's other work shares the machine)."""
    deadline = time.monotonic() + 180
    while True:
        items: list[dict[str, Any]] = c.get("/v1/jobs", params={"status": status}).json()["items"]
        if len(items) >= count:
            return items
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)


def test_events_stream_follows_a_job_to_its_end(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    key = create_key(env, "sse@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        job = c.post("/v1/jobs", json={"type": "markdown", "input": LONG_DOC}).json()
        events = read_sse(c, f"/v1/jobs/{job['id']}/events")
        assert c.get(f"/v1/jobs/{job['id']}/events").status_code == 200  # ended job: one event
        other = create_key(env, "sse-other@example.com")
        stranger = c.get(
            f"/v1/jobs/{job['id']}/events", headers={"Authorization": f"Bearer {other}"}
        )
        assert stranger.status_code == 404
    assert events, "no events"
    assert all(name == "job" for name, _ in events)
    statuses = [e["status"] for _, e in events]
    assert statuses[-1] == "succeeded"
    order = ["queued", "running", "succeeded"]
    assert statuses == sorted(statuses, key=order.index)  # never goes backwards
    progress = [e["progress"] for _, e in events]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert len(events) == len({(e["status"], e["stage"], e["progress"]) for _, e in events})


def test_concurrent_duplicates_make_one_job(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    key = create_key(env, "dup@example.com")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "invoice-2026-001"}
    body = {"type": "markdown", "input": "# Invoice"}

    def submit(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as c:
            r = c.post("/v1/jobs", json=body)
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(submit, range(50)))
    assert len({job_id for _, job_id in results}) == 1
    codes = sorted(code for code, _ in results)
    assert codes.count(202) == 1 and codes.count(200) == 49
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        assert len(c.get("/v1/jobs").json()["items"]) == 1


def _scrape(url: str) -> dict[str, float]:
    """Every sample a Prometheus scrape of `url` reads, by name and labels as written."""
    text = httpx.get(url, timeout=10).text
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def _metrics(server: Process) -> dict[str, float]:
    """Every sample of the server's /metrics."""
    return _scrape(server.base_url + "/metrics")


def _idle(values: dict[str, float]) -> bool:
    return all(values[f'pdfprompt_queue_depth{{status="{s}"}}'] == 0 for s in ("queued", "running"))


def _idle_metrics(server: Process) -> dict[str, float] | None:
    """/metrics once no job is queued or running, else None."""
    values = _metrics(server)
    return values if _idle(values) else None


def _stats(env: dict[str, str]) -> tuple[str, list[str]]:
    """`pdfprompt stats`: its queue depth line and the columns of its "1 hour" row."""
    lines = cli(env, "stats").stdout.splitlines()
    [depth] = [line for line in lines if line.startswith("queue depth")]
    [hour] = [line.split()[2:] for line in lines if line.startswith("1 hour")]
    return " ".join(depth.split()), hour


def test_metrics_and_stats_report_the_work(service: tuple[Process, dict[str, str]]) -> None:
    """Three jobs more, and nothing else: the counters move by three each, and the queue is
    empty again after them."""
    server, env = service
    key = create_key(env, "metrics@example.com")
    # The module's other tests' jobs have ended: what changes from here is these three.
    before = wait_until(lambda: _idle_metrics(server), 60, "an idle queue")
    _, hour_before = _stats(env)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        ids = [
            c.post("/v1/jobs", json={"type": "html", "input": f"<p>{i}</p>"}).json()["id"]
            for i in range(3)
        ]
        wait_all(c, ids, 180)
    after = _metrics(server)
    for name in (
        "pdfprompt_jobs_succeeded_total",
        "pdfprompt_jobs_claimed_total",
        "pdfprompt_pickup_latency_seconds_count",
        'pdfprompt_stage_duration_seconds_count{stage="rendering"}',
    ):
        assert after[name] - before.get(name, 0) == 3, name  # a labelled one may be new
    assert _idle(after)
    assert "pdfprompt_db_pool_in_use" in after
    # The event loop is watched: its lag has been sampled the whole time the server ran.
    assert after["pdfprompt_event_loop_lag_seconds_count"] > before.get(
        "pdfprompt_event_loop_lag_seconds_count", 0
    )
    depth, hour = _stats(env)
    assert depth == "queue depth queued 0 running 0"
    ended, ok, failed, canceled = (int(v) for v in hour[:4])
    assert (ended, ok, failed, canceled) == (
        int(hour_before[0]) + 3,
        int(hour_before[1]) + 3,
        int(hour_before[2]),
        int(hour_before[3]),
    )
    p50, p95 = hour[-2:]
    assert p50.endswith("s") and p95.endswith("s") and float(p95[:-1]) >= float(p50[:-1])


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_sigkilled_worker_loses_no_job(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'pdfprompt.sqlite3'}"
        if db == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    env = service_env(
        tmp_path / "data",
        url,
        PDFPROMPT_LEASE_S="2",
        PDFPROMPT_WORKER_CONCURRENCY="4",
        MAX_PDF_CONCURRENCY="2",
    )
    with split_service(env, tmp_path, "crash@example.com") as split:
        c, first = split.client, split.worker
        ids = submit_long(c, 16)
        wait_for(c, "running", 1, first)
        first.stop(signal.SIGKILL)
        killed_holding = [
            j["id"] for j in c.get("/v1/jobs", params={"status": "running"}).json()["items"]
        ]
        assert killed_holding, "the killed worker held no running job"
        second = split.add_worker()
        jobs = wait_all(c, ids, 180)
    assert all(j["status"] == "succeeded" for j in jobs.values()), jobs
    assert len({j["file"]["id"] for j in jobs.values()}) == len(ids)
    for job_id in killed_holding:
        assert jobs[job_id]["attempts"] == 2  # the lost attempt counts; the second one won
    assert "returned" in second.log() and "expired leases" in second.log()


@pytest.mark.exclusive
def test_postgres_restart_mid_run_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    ctl = shutil.which("pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if ctl is None or not versions or os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI must be able to restart PostgreSQL (root and pg_ctlcluster)")
        pytest.skip("needs root and pg_ctlcluster to restart PostgreSQL")
    env = service_env(tmp_path / "data", pg_url, PDFPROMPT_POLL_MS="500")
    with split_service(env, tmp_path, "restart@example.com") as split:
        c, worker = split.client, split.worker
        ids = submit_long(c, 20)
        wait_for(c, "succeeded", 1, worker)
        subprocess.run(
            [ctl, "--skip-systemctl-redirect", versions[-1], "main", "restart"],
            check=True,
            timeout=120,
        )
        split.api.wait_ready()
        ids += [
            c.post("/v1/jobs", json={"type": "markdown", "input": f"# after {i}"}).json()["id"]
            for i in range(10)
        ]
        jobs = wait_all(c, ids, 120)
    assert all(j["status"] == "succeeded" for j in jobs.values()), [
        (j["status"], j["error"]) for j in jobs.values()
    ]
    assert "LISTEN connection lost" in worker.log()  # it noticed, and came back
    assert len(set(ids)) == 30


@pytest.mark.timeout(900)  # the slow job's two renders, on a busy machine
def test_a_second_signal_stops_serve_at_once(tmp_path: Path) -> None:
    """`pdfprompt serve` (API and worker in one process) with a job running and a grace of
    ten minutes: the first SIGTERM starts the graceful stop, the second ends the process at
    once (status 1) with its browser; a restart runs the job to its end."""
    env = service_env(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        PDFPROMPT_SHUTDOWN_GRACE_S="600",
        PDFPROMPT_LEASE_S="2",
        # The slow job renders for seconds on an idle machine and for more than the default
        # 30 s on a busy one; here it must finish after the restart, however long it takes.
        PDFPROMPT_RENDER_TIMEOUT_S="600",
    )
    server = start_server("serve", env, tmp_path / "serve.log")
    auth = {"Authorization": f"Bearer {create_key(env, 'twice@example.com')}"}
    try:
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as c:
            slow = c.post("/v1/jobs", json={"type": "markdown", "input": SLOW_MARKDOWN}).json()
            wait_until(
                lambda: c.get(f"/v1/jobs/{slow['id']}").json()["status"] == "running",
                60,
                "the slow job running",
            )
    finally:
        assert server.proc is not None
        browsers = process_tree(server.proc.pid)[1:]
        server.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "Shutting down" in server.log(), 10, "the graceful stop begun")
        assert server.stop(signal.SIGTERM, timeout_s=10) == 1, server.log()  # not 600 s
    assert "second signal: exiting now" in server.log()
    assert browsers
    wait_until(lambda: not any(alive(pid) for pid in browsers), 10, "the browser gone")
    # Its job comes back when its lease runs out, and the next start finishes it.
    again = start_server("serve", env, tmp_path / "again.log")
    try:
        with httpx.Client(base_url=again.base_url, headers=auth, timeout=30) as c:
            job, _ = wait_final(c, slow["id"], 600)
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
    finally:
        again.stop()


def test_sigterm_hands_unfinished_jobs_straight_back_and_a_second_one_exits_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    """A worker stopped by SIGTERM hands back what it runs once the grace is over. The next
    one (its metrics on a port of its own, a grace of ten minutes and a lease of two
    seconds) is stopped by a second SIGTERM at once, leaving its jobs to their leases; a
    third worker finishes every job but the slow one, which is cancelled."""
    env = service_env(
        tmp_path / "data",
        pg_url,
        PDFPROMPT_SHUTDOWN_GRACE_S="0.2",
        PDFPROMPT_WORKER_CONCURRENCY="4",
        MAX_PDF_CONCURRENCY="1",
    )
    with split_service(env, tmp_path, "term@example.com") as split:
        c, first = split.client, split.worker
        ids = submit_long(c, 8)
        wait_for(c, "running", 2, first)
        # Its jobs go back once the 0.2 s grace is over; then it closes its browser (up to
        # 5 s to close, 5 more to exit) and its database pool. 60 s is a generous bound: on
        # a machine the whole suite keeps busy, 10 s was not (then it is killed).
        assert first.stop(signal.SIGTERM, timeout_s=60) == 0, first.log()
        # Within the 30 s lease: nothing is left running, nothing failed.
        states = [c.get(f"/v1/jobs/{i}").json() for i in ids]
        assert not [s for s in states if s["status"] in ("running", "failed")]
        handed_back = [s for s in states if s["status"] == "queued"]
        assert handed_back and all(s["attempts"] == 0 for s in handed_back)

        # A job that takes seconds to render: the next worker is still running it when the
        # second signal comes (a grace of ten minutes would let it finish).
        slow = c.post("/v1/jobs", json={"type": "markdown", "input": SLOW_MARKDOWN}).json()
        port = free_port()
        second = split.add_worker(
            PDFPROMPT_WORKER_CONCURRENCY="16",
            PDFPROMPT_SHUTDOWN_GRACE_S="600",
            PDFPROMPT_LEASE_S="2",
            PDFPROMPT_WORKER_METRICS_PORT=str(port),
        )
        wait_until(
            lambda: c.get(f"/v1/jobs/{slow['id']}").json()["status"] == "running",
            180,
            "the slow job running",
        )
        scraped = _scrape(f"http://127.0.0.1:{port}/metrics")  # its own port: no API here
        assert scraped["pdfprompt_running_jobs"] >= 1
        assert scraped["pdfprompt_jobs_claimed_total"] >= scraped["pdfprompt_running_jobs"]
        assert scraped["pdfprompt_event_loop_lag_seconds_count"] >= 1  # the worker's loop
        assert second.proc is not None
        browsers = process_tree(second.proc.pid)[1:]
        assert browsers, "the worker runs its browser as a child"
        second.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "stopping: finishing running jobs" in second.log(), 10, "stopping")
        assert second.stop(signal.SIGTERM, timeout_s=10) == 1, second.log()  # not 600 s
        assert "second signal: exiting now" in second.log()
        # Its browser went with it (in a session of its own, no signal to the group reaches it).
        wait_until(lambda: not any(alive(pid) for pid in browsers), 10, "the browser gone")
        assert c.post(f"/v1/jobs/{slow['id']}/cancel").status_code == 200
        split.add_worker()
        jobs = wait_all(c, ids, 120)
    assert all(j["status"] == "succeeded" for j in jobs.values())
    assert "handed" in first.log() and "back to the queue" in first.log()

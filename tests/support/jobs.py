"""Following jobs through the HTTP API: waiting for their end, reading their events, their
PDFs and their byte ranges, and the API and workers as separate processes."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Process, create_key, start_server

FINAL = {"succeeded", "failed", "canceled"}

# A table of 15,000 rows: seconds of layout (469 pages), so it is still running a moment
# after it started (to be cancelled, or to keep a stopping worker busy).
SLOW_MARKDOWN = "| a | b |\n|---|---|\n" + "| cell | more |\n" * 15_000


def wait_final(
    client: httpx.Client, job_id: str, timeout_s: float = 180
) -> tuple[dict[str, Any], list[str]]:
    """Poll the job to a final status; returns it and every status seen on the way. Ten
    reads a second (each costs the server a request on a machine the suite keeps busy); a
    generous bound, as a job waits its turn behind the other tests' work."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in FINAL:
            return job, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished after {timeout_s}s; seen {seen}")


def read_sse(
    client: httpx.Client, path: str, timeout_s: float = 60
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of a Server-Sent Events stream until the server closes it."""
    events: list[tuple[str, dict[str, Any]]] = []
    name, data = "message", ""
    with client.stream("GET", path, timeout=timeout_s) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            elif line == "" and data:
                events.append((name, json.loads(data)))
                name, data = "message", ""
    return events


@dataclass
class Split:
    """`pdfprompt api` and its workers as separate processes, and a client with a user's key."""

    env: dict[str, str]
    tmp_path: Path
    api: Process
    workers: list[Process]
    client: httpx.Client

    @property
    def worker(self) -> Process:
        return self.workers[0]

    def add_worker(self, **extra: str) -> Process:
        """One more `pdfprompt worker`, with `extra` settings."""
        log = self.tmp_path / f"worker{len(self.workers) + 1}.log"
        self.workers.append(Process(["worker"], {**self.env, **extra}, log).start())
        return self.workers[-1]


@contextlib.contextmanager
def split_service(env: dict[str, str], tmp_path: Path, email: str) -> Iterator[Split]:
    """Start the API and one worker apart; stop every process started, whatever happens."""
    key = create_key(env, email)
    api = start_server("api", env, tmp_path / "api.log")
    workers = [Process(["worker"], env, tmp_path / "worker1.log").start()]
    try:
        # Its start (Chromium's launch) has taken a minute on a busy machine; what the tests
        # time from here is the work they give it.
        workers[0].wait_worker_running()
        with httpx.Client(
            base_url=api.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as client:
            yield Split(env, tmp_path, api, workers, client)
    finally:
        for worker in workers:
            worker.stop()
        api.stop()


def check_ranges(c: httpx.Client, path: str, whole: bytes) -> None:
    """Single byte ranges answer 206 with exactly those bytes; impossible ones 416."""
    size = len(whole)
    head = c.get(path, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.content == whole[:10]
    assert head.headers["Content-Range"] == f"bytes 0-9/{size}"
    assert c.get(path, headers={"Range": "bytes=-5"}).content == whole[-5:]
    assert c.get(path, headers={"Range": f"bytes={size - 3}-"}).content == whole[-3:]
    assert c.get(path, headers={"Range": f"bytes={size}-"}).status_code == 416
    stale = c.get(path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == whole

"""What the benchmarks share: `pdfprompt serve` on a fresh SQLite database, a fresh
PostgreSQL database, free ports, waiting for HTTP, and the CPU and memory of a process
tree."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

PDFPROMPT = str(Path(sys.executable).with_name("pdfprompt"))
PG_ADMIN = os.environ.get("PDFPROMPT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_url(database: str) -> str:
    return make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_pg() -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database on `PDFPROMPT_BENCH_PG_URL`'s server,
    dropped afterwards."""
    name = f"pdfprompt_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield pg_url(name)
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout_s: float = 60) -> None:
    """Until `url` answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


async def http_requests(
    url: str,
    key: str,
    requests: list[tuple[str, str, dict[str, Any] | None]],
    connections: int = 50,
) -> list[tuple[int, Any]]:
    """Send each (method, path, JSON body or None) to `url` over `connections` keep-alive
    connections, with `key` as the bearer; (status, decoded JSON answer) of each, in order.
    A small HTTP/1.1 client of its own: a general-purpose one (httpx) spent about 5 ms of CPU
    per request here, which on a 2-core machine is taken from the service being measured."""
    parsed = httpx.URL(url)
    todo = list(enumerate(requests))
    todo.reverse()
    answers: list[tuple[int, Any]] = [(0, None)] * len(requests)
    auth = b"Authorization: Bearer %s\r\n" % key.encode() if key else b""

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            while todo:
                i, (method, path, body) = todo.pop()
                head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (
                    method.encode(),
                    path.encode(),
                    parsed.host.encode(),
                    auth,
                )
                if body is None:
                    writer.write(head + b"\r\n")
                else:
                    payload = json.dumps(body).encode()
                    writer.write(
                        head
                        + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(payload)
                        + payload
                    )
                answer = await reader.readuntil(b"\r\n\r\n")
                status = int(answer.split(b" ", 2)[1])
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", answer)[1])  # type: ignore[index]
                answers[i] = (status, json.loads(await reader.readexactly(length)))
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(min(connections, len(requests)))))
    return answers


async def submit_jobs(
    url: str, key: str, bodies: list[dict[str, Any]], connections: int = 50
) -> list[str]:
    """POST each body to `url`/v1/jobs (`http_requests`); the new jobs' ids in order."""
    answers = await http_requests(url, key, [("POST", "/v1/jobs", b) for b in bodies], connections)
    for status, answer in answers:
        if status != 202:
            raise SystemExit(f"submitting a job answered {status}: {answer}")
    return [answer["id"] for _, answer in answers]


def at(text: str) -> float:
    """A database time (UTC text, as SQLite keeps it) as a Unix timestamp."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (empty if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def cpu_by_name(pid: int) -> str:
    """CPU-seconds of a process tree so far, by process name."""
    by: dict[str, float] = {}
    for p in tree(pid):
        try:
            t = p.cpu_times()
            by[p.name()] = by.get(p.name(), 0.0) + t.user + t.system
        except psutil.Error:
            continue
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))


class Service:
    """`pdfprompt serve` on a fresh SQLite database and data directory under `tmp`, with
    Chromium and `extra_env`. `start()` returns an API key of a new user. Its browsers run
    at the benchmark's own priority (`PDFPROMPT_WORKER_NICE=0`) unless `extra_env` says
    otherwise, so that it renders on equal terms with the references beside it."""

    def __init__(self, tmp: Path, **extra_env: str) -> None:
        self.db = tmp / "pdfprompt.sqlite3"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PDFPROMPT_")}
        self.env.update(
            PDFPROMPT_DATA_DIR=str(tmp / "data"),
            DATABASE_URL=f"sqlite:///{self.db}",
            PDFPROMPT_LOG_LEVEL="warning",
            PDFPROMPT_RENDER_ENGINE="chromium",
            PDFPROMPT_WORKER_NICE="0",
        )
        self.env.update(extra_env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [PDFPROMPT, "serve", "--port", str(self.port)], env=self.env, stdout=subprocess.DEVNULL
        )
        wait_http(f"{self.url}/readyz")
        out = subprocess.run(
            [PDFPROMPT, "users", "create", f"bench-{uuid.uuid4().hex[:6]}@example.com"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def finished(
        self, ids: list[str], every_s: float = 0.25
    ) -> list[tuple[str, str, str, str]]:
        """(status, created, started, finished) of each of `ids`, once all have finished.
        Times come from the database, so how often this looks does not change them; it looks
        every `every_s` over one read-only connection, as looking every 20 ms on a new
        connection cost the benchmark about 28 ms of CPU per 20-page job, taken from the
        service on a 2-core machine."""
        marks = ",".join("?" * len(ids))
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            while True:
                (done,) = db.execute(
                    f"SELECT count(*) FROM jobs WHERE id IN ({marks}) AND finished_at IS NOT NULL",
                    ids,
                ).fetchone()
                if done == len(ids):
                    return db.execute(
                        f"SELECT status, created_at, started_at, finished_at FROM jobs "
                        f"WHERE id IN ({marks})",
                        ids,
                    ).fetchall()
                await asyncio.sleep(every_s)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(60)


async def open_loop(
    url: str,
    key: str,
    request: Callable[[int], tuple[str, str, dict[str, Any] | None]],
    rate: float,
    seconds: float,
    max_connections: int = 256,
) -> list[tuple[float, int]]:
    """Send `request(i)` (method, path, JSON body or None) at a fixed `rate` a second for
    `seconds`, whether or not earlier ones were answered (an open loop: a slow server does
    not slow the load down). The latency of request i at index i, in seconds, from the
    moment it was due to be sent to its whole answer, so that waiting for a free connection
    counts too, with its HTTP status. Kept connections are reused; a new one is opened
    when all are busy (at most `max_connections`)."""
    parsed = httpx.URL(url)
    auth = b"Authorization: Bearer %s\r\n" % key.encode() if key else b""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened = 0
    free = asyncio.Condition()
    total = round(rate * seconds)
    latencies = [(0.0, 0)] * total
    loop = asyncio.get_running_loop()

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal opened
        async with free:
            while not idle and opened >= max_connections:
                await free.wait()
            if idle:
                return idle.pop()
            opened += 1
        return await asyncio.open_connection(parsed.host, parsed.port)

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
    ) -> int:
        writer.write(message)
        answer = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", answer)[1])  # type: ignore[index]
        await reader.readexactly(length)
        return int(answer.split(b" ", 2)[1])

    async def one(i: int, due: float) -> None:
        nonlocal opened
        method, path, body = request(i)
        message = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (
            method.encode(),
            path.encode(),
            parsed.host.encode(),
            auth,
        )
        if body is None:
            message += b"\r\n"
        else:
            payload = json.dumps(body).encode()
            message += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                len(payload),
                payload,
            )
        reader, writer = await connection()
        try:
            status = await exchange(reader, writer, message)
        except (OSError, asyncio.IncompleteReadError):
            # A kept connection the server closed meanwhile (its keep-alive timeout): the
            # request goes again on a new one, its latency still counted from when it was due.
            writer.close()
            reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
            status = await exchange(reader, writer, message)
        latencies[i] = (loop.time() - due, status)
        async with free:
            idle.append((reader, writer))
            free.notify()

    tasks: list[asyncio.Task[None]] = []
    start = loop.time() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

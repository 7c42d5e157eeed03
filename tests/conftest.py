"""Shared fixtures: a clean database per test on SQLite and on PostgreSQL.

PostgreSQL comes from `PDFPROMPT_TEST_PG_URL` (default: the local server as
user postgres). When it cannot be reached the PostgreSQL tests are skipped,
except under `CI=true`, where they fail: CI must test both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import create_engine, upgrade
from pdfprompt.queue import finish_trailing_notifies
from pdfprompt.settings import Settings
from tests.receiver import Receiver

PG_ADMIN_URL = os.environ.get(
    "PDFPROMPT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


async def _pg_execute(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement, timeout=120)
    finally:
        await conn.close()


def _pg_available() -> str | None:
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database that each PostgreSQL test clones."""
    problem = _pg_available()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"pdfprompt_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))

    async def _migrate() -> None:
        engine = create_engine(Settings(database_url=_pg_url(name)))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_migrate())
    yield name
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def pg_database(template: str | None) -> Iterator[str]:
    """A new PostgreSQL database (a clone of `template`, or empty), dropped afterwards."""
    name = f"pdfprompt_t_{uuid.uuid4().hex[:12]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"{clone}'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    with pg_database(pg_template) as url:
        yield url


@pytest.fixture
def empty_pg_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database with no schema at all."""
    with pg_database(None) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database for one test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        lease_s=5,
        poll_ms=50,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the test's database."""
    engine = create_engine(settings)
    await upgrade(engine)
    yield engine
    await finish_trailing_notifies()  # of the test's enqueues, before the engine goes
    await engine.dispose()


REDIS_URL = os.environ.get("PDFPROMPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the shared rate limit is tested against; skipped when unreachable,
    except under `CI=true`, where it must run."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required under CI=true and is unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on 127.0.0.1 (moto's standalone server, a real HTTP peer),
    with test credentials in the environment for the code under test."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for name, value in S3_TEST_ENV.items():
            os.environ.setdefault(name, value)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def listener() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records every request it gets, whatever the
    method, and answers 200 with a secret that must never reach a PDF."""
    with Receiver(answer=b"SECRET-FROM-NETWORK") as receiver:
        yield receiver


S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)

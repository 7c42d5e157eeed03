"""Shared fixtures: a clean database per test on SQLite and on PostgreSQL (see
`tests/support/databases.py`), Redis and an S3-compatible server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import create_engine, upgrade
from pdfprompt.queue import finish_trailing_notifies
from pdfprompt.settings import Settings
from pdfprompt.storage import LocalStorage, S3Storage, Storage
from tests.support.databases import (
    IN_CI,
    REDIS_URL,
    S3_TEST_ENV,
    free_port,
    make_bucket,
    pg_database,
    pg_execute,
    pg_problem,
    pg_url_for,
)
from tests.support.receiver import Receiver
from tests.support.scheduling import make_scheduler, on_other_database, order_items


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadgroup`: a file's tests on one database go to one process, the longest
    groups first (tests/support/scheduling.py)."""
    if config.getoption("dist") == "loadgroup":
        return make_scheduler(config, log)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PDFPROMPT_TEST_ALL_DATABASES") != "1":
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (dropped if on_other_database(item) else kept).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    # In each process of a `--dist loadgroup` run (xdist sets `loadgroup` there).
    if getattr(config.option, "loadgroup", False):
        order_items(items)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database that each PostgreSQL test clones."""
    problem = pg_problem()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"pdfprompt_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))

    async def _migrate() -> None:
        engine = create_engine(Settings(database_url=pg_url_for(name)))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_migrate())
    yield name
    asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """An empty store, once on the local backend and once on the S3-compatible server."""
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket = f"pdfprompt-{uuid.uuid4().hex[:12]}"
    make_bucket(endpoint, bucket)
    return S3Storage(bucket, "some/prefix", endpoint_url=endpoint)

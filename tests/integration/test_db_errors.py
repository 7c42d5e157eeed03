"""Driver errors are told apart at the edge of db/: unreachable is retryable, bad SQL is not."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import create_engine, is_unavailable, sqlite_driver, upgrade
from pdfprompt.queue import job_store_for
from pdfprompt.settings import Settings
from tests.support.databases import free_port


async def test_unreachable_postgres_is_unavailable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    engine = create_engine(Settings(database_url=url, database_connect_timeout_s=2))
    try:
        with pytest.raises(OSError) as info:  # nothing listens there: refused
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_unavailable(info.value)
    finally:
        await engine.dispose()


async def test_bad_statements_are_not_unavailable(engine: AsyncEngine) -> None:
    with pytest.raises(DBAPIError, match="no_such_table") as info:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert not is_unavailable(info.value)


async def test_sqlite_driver_errors_are_told_apart(tmp_path: Path) -> None:
    """The SQLite hot path (db/driver.py) raises sqlite3 errors itself: a lock held by another
    process past the busy timeout is passing; bad SQL is not."""
    path = tmp_path / "locked.sqlite3"
    engine = create_engine(
        Settings(database_url=f"sqlite:///{path}", database_connect_timeout_s=0.3)
    )
    try:
        await upgrade(engine)
        driver = sqlite_driver(engine)
        with pytest.raises(sqlite3.Error) as bad:
            await driver.transaction(lambda db: db.execute("SELECT * FROM no_such_table"))
        assert not is_unavailable(bad.value)
        other = sqlite3.connect(path, isolation_level=None)  # stands for another process
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlite3.Error) as locked:
                await job_store_for(engine).claim_jobs("w", 1, lease_s=30)
            assert is_unavailable(locked.value)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await job_store_for(engine).claim_jobs("w", 1, lease_s=30) == []
    finally:
        await engine.dispose()


async def test_a_deadlock_is_passing(pg_url: str) -> None:
    """PostgreSQL undoes one of two transactions that wait on each other; running it again
    is the cure, so it counts with the passing errors."""
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await a.execute(
            "CREATE TABLE locks (id int PRIMARY KEY); INSERT INTO locks VALUES (1), (2)"
        )
        await a.execute("BEGIN; UPDATE locks SET id = id WHERE id = 1")
        await b.execute("BEGIN; UPDATE locks SET id = id WHERE id = 2")
        outcomes = await asyncio.gather(
            a.execute("UPDATE locks SET id = id WHERE id = 2"),
            b.execute("UPDATE locks SET id = id WHERE id = 1"),
            return_exceptions=True,
        )
        [deadlock] = [o for o in outcomes if isinstance(o, BaseException)]
        assert isinstance(deadlock, asyncpg.DeadlockDetectedError)
        assert is_unavailable(deadlock)
    finally:
        await a.close()
        await b.close()


async def test_sqlite_transactions_asked_together_commit_together_each_in_its_savepoint(
    tmp_path: Path,
) -> None:
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'group.sqlite3'}"))
    try:
        await upgrade(engine)
        driver = sqlite_driver(engine)
        await driver.transaction(lambda db: db.execute("CREATE TABLE t (v int)"))

        def add(v: int) -> Callable[[sqlite3.Connection], int]:
            def work(db: sqlite3.Connection) -> int:
                db.execute("INSERT INTO t VALUES (?)", (v,))
                if v % 3 == 0:
                    raise ValueError(f"refused {v}")
                return v

            return work

        outcomes = await asyncio.gather(
            *(driver.transaction(add(v)) for v in range(1, 31)), return_exceptions=True
        )
        failed = [o for o in outcomes if isinstance(o, ValueError)]
        assert len(failed) == 10
        kept = await driver.transaction(
            lambda db: [r[0] for r in db.execute("SELECT v FROM t ORDER BY v")]
        )
        assert kept == [v for v in range(1, 31) if v % 3]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("slow_ms", [1, 0])
async def test_slow_sqlite_reads_and_transactions_are_logged_with_their_parts(
    tmp_path: Path, slow_ms: int, caplog: pytest.LogCaptureFixture
) -> None:
    """`PDFPROMPT_DATABASE_SLOW_MS`: a transaction and a read on the driver's threads that
    take longer are logged, the transaction with the wait for the lock, the statements and
    the commit apart; 0 logs nothing."""
    caplog.set_level(logging.WARNING, logger="pdfprompt.db")
    engine = create_engine(
        Settings(database_url=f"sqlite:///{tmp_path / 'slow.sqlite3'}", database_slow_ms=slow_ms)
    )
    try:
        await upgrade(engine)
        driver = sqlite_driver(engine)

        def slow_statements(db: sqlite3.Connection) -> None:
            db.execute("CREATE TABLE t (v int)")
            time.sleep(0.05)  # the scenario: statements that take 50 ms

        await driver.transaction(slow_statements)
        counted = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)"
            " SELECT count(*) AS c FROM n"
        )
        assert await driver.read(counted, []) == {"c": 300000}
    finally:
        await engine.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == "pdfprompt.db"]
    if slow_ms == 0:
        assert lines == []
        return
    transaction = next(m for m in lines if m.startswith("slow SQLite transaction: "))
    parts = re.fullmatch(
        r"slow SQLite transaction: (\d+) ms \(PDFPROMPT_DATABASE_SLOW_MS\): (\d+) ms waiting "
        r"for the write lock, (\d+) ms in the statements of 1, (\d+) ms committing",
        transaction,
    )
    assert parts is not None, transaction
    total, lock, statements, commit = (int(p) for p in parts.groups())
    assert statements >= 50 and abs(total - (lock + statements + commit)) <= 2
    read = next(m for m in lines if m.startswith("slow SQLite read: "))
    assert read.endswith("1 rows: " + counted[:160]), read

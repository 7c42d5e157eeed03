"""Core statements run straight on the database driver, for the queue's hot path.

A worker claims and finishes jobs many times a second. For those few statements,
SQLAlchemy's per-execution work (cache key, parameter and result processing,
the greenlet bridge) costs more CPU than the statement itself. They are still
written as Core statements; `DriverStatement` compiles one once, and it runs on:

- PostgreSQL: the pooled connection's asyncpg connection (`driver_connection`),
  which keeps its own prepared-statement cache;
- SQLite: `SqliteDriver`, one `sqlite3` connection on its own thread that runs a
  whole transaction per call (one thread hop per transaction, not per statement),
  and a second, read-only one on another thread for the reads users poll.

Everything else goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from pdfprompt.db.errors import is_unavailable

T = TypeVar("T")

log = logging.getLogger("pdfprompt.db")


class DriverStatement:
    """A Core statement compiled once for `engine`'s dialect; `args(**values)` gives the
    positional arguments for `asyncpg` in the compiled order (bound literals included)."""

    def __init__(self, statement: ClauseElement, engine: AsyncEngine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
            raise TypeError("DriverStatement needs a dialect with positional parameters")
        self.sql = compiled.string
        self._compiled = compiled
        self._order = list(compiled.positiontup)

    def args(self, **values: Any) -> list[Any]:
        params = self._compiled.construct_params(values)
        return [params[name] for name in self._order]


@contextlib.asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's asyncpg connection, outside SQLAlchemy's transaction handling
    (the caller runs single statements, or BEGIN/COMMIT itself). A connection that failed
    mid-use is dropped from the pool: its state is unknown."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        try:
            yield driver
        except BaseException as exc:
            # A statement error leaves the connection usable once rolled back; anything else
            # (a lost connection, a cancellation mid-statement) leaves it in an unknown state.
            usable = isinstance(exc, asyncpg.PostgresError) and not is_unavailable(exc)
            if usable and driver.is_in_transaction():
                try:
                    await driver.execute("ROLLBACK")
                except Exception:
                    usable = False
            if not usable:
                await conn.invalidate()
            raise


@contextlib.asynccontextmanager
async def driver_transaction(
    engine: AsyncEngine, first: str = ""
) -> AsyncIterator[asyncpg.Connection]:
    """`driver_connection` in a transaction. `first` (SQL without parameters) is sent with
    the BEGIN in one round trip; COMMIT when the block ends, ROLLBACK when it raises."""
    async with driver_connection(engine) as driver:
        await driver.execute(f"BEGIN; {first}" if first else "BEGIN")
        yield driver
        await driver.execute("COMMIT")


async def read_one(
    engine: AsyncEngine, statement: DriverStatement, **values: Any
) -> dict[str, Any] | None:
    """The first row of a read-only statement (by column name), or None, on the driver: on
    SQLite the `SqliteDriver`'s reader thread, on PostgreSQL a pooled asyncpg connection
    (its prepared-statement cache keeps the statement from being parsed again). For reads
    that run often: a status poll, a poller's look for due work."""
    args = statement.args(**values)
    if engine.dialect.name == "sqlite":
        return await sqlite_driver(engine).read(statement.sql, args)
    async with driver_connection(engine) as driver:
        row = await driver.fetchrow(statement.sql, *args)
    return None if row is None else dict(row)


async def read_all(
    engine: AsyncEngine, statement: DriverStatement, **values: Any
) -> list[dict[str, Any]]:
    """Every row of a read-only statement (by column name), on the driver as `read_one`
    reads the first: one round trip on PostgreSQL (no BEGIN, no ROLLBACK), the reader
    thread on SQLite. For reads people wait on, such as a page of their history."""
    args = statement.args(**values)
    if engine.dialect.name == "sqlite":
        return await sqlite_driver(engine).read_all(statement.sql, args)
    async with driver_connection(engine) as driver:
        rows = await driver.fetch(statement.sql, *args)
    return [dict(r) for r in rows]


# -- SQLite ---------------------------------------------------------------------------------

_writers: weakref.WeakKeyDictionary[Any, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def writer_lock(engine: AsyncEngine) -> asyncio.Lock:
    """One SQLite writer at a time in this process (per engine and event loop): SQLite's busy
    handler waits by sleeping (up to 100 ms at a time), which a queue of writers in one
    process would otherwise pay on every commit."""
    loop = asyncio.get_running_loop()
    held = _writers.get(engine.sync_engine)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        _writers[engine.sync_engine] = held
    return held[1]


def sqlite_pragmas(connection: Any, busy_timeout_s: float) -> None:
    """How every pdfprompt connection to SQLite is set up: WAL, durable commits, waiting
    for other processes' write locks, foreign keys enforced."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class SqliteDriver:
    """A `sqlite3` connection of its own, used from one thread: `transaction(work)` runs
    `work(connection)` in a transaction on that thread, after taking this process's SQLite
    writer lock.

    Transactions asked for while another is running are committed together (group
    commit): the next batch runs as one BEGIN IMMEDIATE … COMMIT with each `work` inside a
    savepoint of its own, so a `work` that raises rolls back only itself. One thread hop and
    one durable commit serve the whole batch. Closed with its engine.

    A read or a transaction that takes longer than `slow_s` (0: never) is logged, with its
    parts: where a stall of the service's answers comes from (the disk's durable writes, the
    write lock held by another process) is then in the log."""

    MAX_BATCH = 256

    def __init__(
        self, engine: AsyncEngine, path: str, busy_timeout_s: float, slow_s: float = 0.0
    ) -> None:
        self._engine = weakref.ref(engine)
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._slow_s = slow_s
        self._thread: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._reader_thread: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    def _open(self, *, read_only: bool) -> sqlite3.Connection:
        """A connection in autocommit (transactions are begun explicitly), for any thread."""
        connection = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        sqlite_pragmas(connection, self._busy_timeout_s)
        if read_only:
            connection.execute("PRAGMA query_only=ON")
        return connection

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._open(read_only=False)
        return self._connection

    def _read_connection(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._open(read_only=True)
        return self._reader

    async def read(self, sql: str, args: Sequence[Any]) -> dict[str, Any] | None:
        """The first row of a query (by column name), or None: one statement in its own read
        transaction on the reader thread. In WAL mode it neither waits for nor holds up the
        writers, and it sees every transaction committed before it started."""
        rows = await self._fetch(sql, args, all_rows=False)
        return rows[0] if rows else None

    async def read_all(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        """Every row of a query (by column name), as `read` reads the first."""
        return await self._fetch(sql, args, all_rows=True)

    async def _fetch(
        self, sql: str, args: Sequence[Any], *, all_rows: bool
    ) -> list[dict[str, Any]]:
        if self._reader_thread is None:
            self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="pdfprompt-sqlite-read")

        def fetch() -> list[dict[str, Any]]:
            started = time.perf_counter()
            cursor = self._read_connection().execute(sql, args)
            try:  # closed at once: an open statement would keep its snapshot (and the WAL)
                found = cursor.fetchall() if all_rows else cursor.fetchmany(1)
                names = [d[0] for d in cursor.description]
            finally:
                cursor.close()
            took = time.perf_counter() - started
            if self._slow_s and took > self._slow_s:
                log.warning(
                    "slow SQLite read: %.0f ms (PDFPROMPT_DATABASE_SLOW_MS), %d rows: %s",
                    took * 1000,
                    len(found),
                    " ".join(sql.split())[:160],
                )
            return [dict(zip(names, row, strict=True)) for row in found]

        return await asyncio.get_running_loop().run_in_executor(self._reader_thread, fetch)

    def _run(self, works: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
        """Run `works` in one transaction; each outcome is (True, result) or (False, error)."""
        connection = self._connect()
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        locked = time.perf_counter()
        outcomes: list[tuple[bool, Any]] = []
        try:
            for work in works:
                connection.execute("SAVEPOINT work")
                try:
                    outcomes.append((True, work(connection)))
                except Exception as exc:
                    connection.execute("ROLLBACK TO work")
                    outcomes.append((False, exc))
                connection.execute("RELEASE work")
            worked = time.perf_counter()
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        ended = time.perf_counter()
        if self._slow_s and ended - started > self._slow_s:
            log.warning(
                "slow SQLite transaction: %.0f ms (PDFPROMPT_DATABASE_SLOW_MS): %.0f ms waiting "
                "for the write lock, %.0f ms in the statements of %d, %.0f ms committing",
                (ended - started) * 1000,
                (locked - started) * 1000,
                (worked - locked) * 1000,
                len(works),
                (ended - worked) * 1000,
            )
        return outcomes

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        committer = self._committer
        if committer is not None and committer.get_loop() is not loop:
            self._pending.clear()  # left by an event loop that has ended
            committer = None
        self._pending.append((work, done))
        if committer is None or committer.done():
            self._committer = loop.create_task(self._commit_pending())
        return await done

    async def _commit_pending(self) -> None:
        engine = self._engine()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="pdfprompt-sqlite")
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[: self.MAX_BATCH]
            del self._pending[: self.MAX_BATCH]
            try:
                if engine is None:
                    raise RuntimeError("the engine of this SQLite driver is gone")
                async with writer_lock(engine):
                    works = [work for work, _ in batch]
                    outcomes = await loop.run_in_executor(self._thread, self._run, works)
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            except BaseException:
                for _, done in batch:
                    done.cancel()
                raise
            for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
                if done.done():
                    continue  # its caller was cancelled; the work itself was committed
                if ok:
                    done.set_result(value)
                else:
                    done.set_exception(value)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.submit(self._close_connection)
            thread.shutdown(wait=True)
        reader, self._reader_thread = self._reader_thread, None
        if reader is not None:
            reader.submit(self._close_reader)
            reader.shutdown(wait=True)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _close_reader(self) -> None:
        connection, self._reader = self._reader, None
        if connection is not None:
            connection.close()


_sqlite_drivers: weakref.WeakKeyDictionary[Any, SqliteDriver] = weakref.WeakKeyDictionary()


def attach_sqlite_driver(
    engine: AsyncEngine, path: str, busy_timeout_s: float, *, slow_s: float = 0.0
) -> None:
    """Give a SQLite engine its `SqliteDriver`, closed when the engine is disposed (and opened
    again on next use)."""
    driver = SqliteDriver(engine, path, busy_timeout_s, slow_s)
    _sqlite_drivers[engine.sync_engine] = driver
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: driver.close())


def sqlite_driver(engine: AsyncEngine) -> SqliteDriver:
    return _sqlite_drivers[engine.sync_engine]

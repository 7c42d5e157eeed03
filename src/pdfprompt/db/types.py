"""Column types and clock expressions that read the same on PostgreSQL and SQLite.

Times always come from the database clock (`db_now`, `db_now_plus`), so that
leases and retries do not depend on the clocks of API and worker machines.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


class SqliteUtcTimestamp(TypeDecorator[datetime]):
    """UTC times as sortable text 'YYYY-MM-DD HH:MM:SS.fff', the shape SQLite's strftime gives."""

    impl = String(23)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


Timestamp = DateTime(timezone=True).with_variant(SqliteUtcTimestamp(), "sqlite")


class db_now(FunctionElement[datetime]):
    """The database's current time (`clock_timestamp()` on PostgreSQL)."""

    type = Timestamp
    inherit_cache = True


class db_now_plus(FunctionElement[datetime]):
    """The database's current time plus a number of seconds (a bound value or a column)."""

    type = Timestamp
    inherit_cache = True


@compiles(db_now, "postgresql")
def _pg_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "clock_timestamp()"


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('{_SQLITE_FORMAT}', 'now')"


@compiles(db_now_plus, "postgresql")
def _pg_now_plus(element: db_now_plus, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(clock_timestamp() + make_interval(secs => CAST({seconds} AS DOUBLE PRECISION)))"


@compiles(db_now_plus, "sqlite")
def _sqlite_now_plus(element: db_now_plus, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('{_SQLITE_FORMAT}', 'now', printf('%+.3f seconds', {seconds}))"


class seconds_after(FunctionElement[datetime]):
    """A timestamp plus a number of seconds (`seconds_after(moment, seconds)`): with one
    reading of the clock (`db_now()` read once, e.g. in a subquery), a row's times are
    exactly as far apart as asked, where two readings would differ by the time between."""

    type = Timestamp
    inherit_cache = True


@compiles(seconds_after, "postgresql")
def _pg_seconds_after(element: seconds_after, compiler: SQLCompiler, **kw: Any) -> str:
    moment, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"({moment} + make_interval(secs => CAST({seconds} AS DOUBLE PRECISION)))"


@compiles(seconds_after, "sqlite")
def _sqlite_seconds_after(element: seconds_after, compiler: SQLCompiler, **kw: Any) -> str:
    moment, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"strftime('{_SQLITE_FORMAT}', {moment}, printf('%+.3f seconds', {seconds}))"


class seconds_between(FunctionElement[float]):
    """Seconds from the first timestamp to the second (`seconds_between(start, end)`)."""

    type = Float()
    inherit_cache = True


def _two(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return start, end


@compiles(seconds_between, "postgresql")
def _pg_seconds_between(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _two(element, compiler, **kw)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _sqlite_seconds_between(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _two(element, compiler, **kw)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


class whole_hours(FunctionElement[int]):
    """The whole hours in a number of seconds that is not negative (rounded down)."""

    type = Integer()
    inherit_cache = True


@compiles(whole_hours, "postgresql")
def _pg_whole_hours(element: whole_hours, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(({compiler.process(element.clauses, **kw)}) / 3600.0) AS INTEGER)"


@compiles(whole_hours, "sqlite")
def _sqlite_whole_hours(element: whole_hours, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) / 3600.0 AS INTEGER)"


def seconds_since(start: ColumnElement[Any]) -> seconds_between:
    """Seconds from a timestamp to the database's current time."""
    return seconds_between(start, db_now())


def now_plus(seconds: float | ColumnElement[Any]) -> db_now_plus:
    return db_now_plus(seconds)

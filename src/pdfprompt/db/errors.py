"""Driver errors, told apart at the edge of db/: which ones a retry may cure."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

from pdfprompt.domain import ConflictError

SQLITE_PASSING = ("database is locked", "database is busy", "unable to open", "disk i/o error")

# Every class the database's drivers raise (OSError and TimeoutError included); which of
# these errors are passing, `is_unavailable` tells.
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    sqlite3.Error,
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def is_unavailable(error: BaseException) -> bool:
    """True when the database could not be reached or dropped the connection (restart,
    failover, network), or undid the statement for a passing reason (a deadlock), as
    opposed to an error in the statement or the data: running it again may succeed."""
    if isinstance(error, OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, sqlite3.OperationalError):  # raised by db/driver.py's SqliteDriver
        return any(m in str(error).lower() for m in SQLITE_PASSING)
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            origin = error.orig
            if isinstance(origin, sqlite3.Error) or isinstance(
                getattr(origin, "__cause__", None), sqlite3.Error
            ):
                # SQLite reports bad SQL as OperationalError too; only these are passing.
                message = str(error.orig).lower()
                return any(m in message for m in SQLITE_PASSING)
            return True
        original = getattr(error, "orig", None)
        if _driver_unavailable(getattr(original, "__cause__", None) or original):
            return True
    if _driver_unavailable(error):  # raised by asyncpg itself (see db/driver.py)
        return True
    return isinstance(error, sa_exc.TimeoutError)  # pool exhausted for too long


def _driver_unavailable(cause: object) -> bool:
    if isinstance(cause, OSError | asyncpg.PostgresConnectionError):
        return True
    if isinstance(cause, asyncpg.InterfaceError) and "closed" in str(cause).lower():
        return True  # "connection is closed", "the underlying connection is closed"
    return isinstance(cause, asyncpg.PostgresError) and getattr(cause, "sqlstate", "") in {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "08000",
        "08003",
        "08006",
        # Not the server going away, but passing all the same: the statement was undone
        # whole and running it again is the cure.
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }


@contextlib.contextmanager
def conflict_on_duplicate(message: str) -> Iterator[None]:
    """A write inside the block that a unique constraint refuses becomes a `ConflictError`
    saying `message`, so that no room above db/ handles the driver's exception types."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        raise ConflictError(message) from exc

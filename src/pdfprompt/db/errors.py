"""Driver errors, told apart at the edge of db/: which ones a retry may cure."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc


def is_unavailable(error: BaseException) -> bool:
    """True when the database could not be reached or dropped the connection (restart,
    failover, network), as opposed to an error in the statement or the data."""
    if isinstance(error, OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            # SQLite's "database is locked" is an OperationalError too: a retry cures it.
            return True
        original = getattr(error, "orig", None)
        cause = getattr(original, "__cause__", None) or original
        if isinstance(cause, OSError | asyncpg.PostgresConnectionError):
            return True
        if isinstance(cause, asyncpg.PostgresError) and getattr(cause, "sqlstate", "") in {
            "57P01",  # admin_shutdown
            "57P02",  # crash_shutdown
            "57P03",  # cannot_connect_now
            "08000",
            "08003",
            "08006",
        }:
            return True
    return isinstance(error, sa_exc.TimeoutError)  # pool exhausted for too long

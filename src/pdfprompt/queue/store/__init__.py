"""The job store: every query on jobs and their files, on SQLite and on PostgreSQL.

`JobStore` (protocol.py) is what the rest of pdfprompt uses; `job_store_for(engine)` builds
the one for the engine's database. Layout:

- `statements.py`, `claiming.py`: named statement builders both dialects run (claiming
  composes the claim from pieces, two of which the dialect supplies);
- `rows.py`: rows to records and back; `records.py`: the store's own records;
- `shared.py`: the store both dialects share, running those statements; `files.py` (files,
  render cache, retention), `stats.py` (statistics, queue positions) and `versions.py` (a
  document's revisions) are parts of it;
- `sqlite.py`, `postgres.py`: all that differs by dialect (`DialectQueries`): claiming, the
  hot-path statements on the driver, and how other processes hear of changes.
"""

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import is_sqlite
from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.store.postgres import (
    EVENTS_CHANNEL,
    JOBS_CHANNEL,
    PostgresJobStore,
    finish_trailing_notifies,
)
from pdfprompt.queue.store.protocol import JobStore
from pdfprompt.queue.store.records import (
    BatchFile,
    BatchPage,
    CachedRender,
    DocumentPage,
    DocumentSummary,
    Finished,
    JobPage,
    NewBatch,
    NewJob,
    StoredFile,
)
from pdfprompt.queue.store.sqlite import SqliteJobStore
from pdfprompt.queue.store.stats import HourStats, WindowStats

__all__ = [
    "EVENTS_CHANNEL",
    "JOBS_CHANNEL",
    "BatchFile",
    "BatchPage",
    "CachedRender",
    "DocumentPage",
    "DocumentSummary",
    "Finished",
    "HourStats",
    "JobPage",
    "JobStore",
    "NewBatch",
    "NewJob",
    "PostgresJobStore",
    "SqliteJobStore",
    "StoredFile",
    "WindowStats",
    "finish_trailing_notifies",
    "job_store_for",
]


def job_store_for(
    engine: AsyncEngine,
    events: JobEvents | None = None,
    plan_caps: Mapping[str, int] | None = None,
) -> JobStore:
    """The job store for `engine`'s database. `plan_caps`: plans whose users may run fewer
    jobs at once than the worker's per-user cap (plan name -> `max_concurrent_jobs`)."""
    if is_sqlite(engine):
        return SqliteJobStore(engine, events, plan_caps)
    return PostgresJobStore(engine, events, plan_caps)

"""The durable job queue: store, wake-ups and the worker loop."""

from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.metrics import QueueMetrics
from pdfprompt.queue.store import (
    CachedRender,
    Finished,
    JobPage,
    JobStore,
    NewJob,
    PostgresJobStore,
    SqliteJobStore,
    StoredFile,
    WindowStats,
    finish_trailing_notifies,
    job_store_for,
)
from pdfprompt.queue.wakeup import PostgresWakeup, Wakeup
from pdfprompt.queue.worker import (
    JobContext,
    JobHandler,
    Worker,
    WorkerConfig,
    new_worker_id,
)

__all__ = [
    "CachedRender",
    "Finished",
    "JobContext",
    "JobEvents",
    "JobHandler",
    "JobPage",
    "JobStore",
    "NewJob",
    "PostgresJobStore",
    "PostgresWakeup",
    "QueueMetrics",
    "SqliteJobStore",
    "StoredFile",
    "Wakeup",
    "WindowStats",
    "Worker",
    "WorkerConfig",
    "finish_trailing_notifies",
    "job_store_for",
    "new_worker_id",
]

"""The durable job queue: store, wake-ups and the worker loop."""

from pdfprompt.queue.store import (
    JobPage,
    JobStore,
    NewJob,
    PostgresJobStore,
    SqliteJobStore,
    StoredFile,
    job_store_for,
)
from pdfprompt.queue.wakeup import PostgresWakeup, Wakeup
from pdfprompt.queue.worker import JobContext, JobHandler, Worker, WorkerConfig, new_worker_id

__all__ = [
    "JobContext",
    "JobHandler",
    "JobPage",
    "JobStore",
    "NewJob",
    "PostgresJobStore",
    "PostgresWakeup",
    "SqliteJobStore",
    "StoredFile",
    "Wakeup",
    "Worker",
    "WorkerConfig",
    "job_store_for",
    "new_worker_id",
]

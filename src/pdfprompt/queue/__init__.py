"""The durable job queue: store, wake-ups, the worker loop and its maintenance passes."""

from pdfprompt.queue.events import JobEvents
from pdfprompt.queue.maintenance import (
    ORPHAN_GRACE_S,
    ORPHAN_SWEEP_EVERY_S,
    sweep_orphans,
)
from pdfprompt.queue.metrics import QueueMetrics
from pdfprompt.queue.store import (
    BatchFile,
    BatchPage,
    CachedRender,
    DocumentPage,
    DocumentSummary,
    Finished,
    HourStats,
    JobPage,
    JobStore,
    NewBatch,
    NewJob,
    PostgresJobStore,
    SqliteJobStore,
    StoredFile,
    WindowStats,
    finish_trailing_notifies,
    job_store_for,
)
from pdfprompt.queue.templates import TemplateContent, TemplateStore, VersionInfo
from pdfprompt.queue.wakeup import PostgresWakeup, Wakeup, wakeup_for
from pdfprompt.queue.worker import (
    JobContext,
    JobHandler,
    Worker,
    WorkerConfig,
    new_worker_id,
)

__all__ = [
    "ORPHAN_GRACE_S",
    "ORPHAN_SWEEP_EVERY_S",
    "BatchFile",
    "BatchPage",
    "CachedRender",
    "DocumentPage",
    "DocumentSummary",
    "Finished",
    "HourStats",
    "JobContext",
    "JobEvents",
    "JobHandler",
    "JobPage",
    "JobStore",
    "NewBatch",
    "NewJob",
    "PostgresJobStore",
    "PostgresWakeup",
    "QueueMetrics",
    "SqliteJobStore",
    "StoredFile",
    "TemplateContent",
    "TemplateStore",
    "VersionInfo",
    "Wakeup",
    "WindowStats",
    "Worker",
    "WorkerConfig",
    "finish_trailing_notifies",
    "job_store_for",
    "new_worker_id",
    "sweep_orphans",
    "wakeup_for",
]

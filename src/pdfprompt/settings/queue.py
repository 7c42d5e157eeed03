"""Settings of `pdfprompt.queue`: how workers claim, hold, retry and keep jobs."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field


class QueueSettings(BaseModel):
    """Workers claim jobs from the job table as slots free, hold them by a lease, retry
    transient failures and delete what has ended (README, "Scale-out"; docs/queue.md)."""

    worker_concurrency: int = Field(
        default=8,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_WORKER_CONCURRENCY"),
        description=(
            "Jobs a worker runs at once (job slots: mostly waiting on the LLM; renders have "
            "their own limit, `MAX_PDF_CONCURRENCY`)."
        ),
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_BATCH_SIZE"),
        description="Most jobs a worker claims in one statement (never more than its free slots).",
    )
    poll_ms: int = Field(
        default=1000,
        ge=10,
        validation_alias=AliasChoices("PDFPROMPT_POLL_MS"),
        description=(
            "Milliseconds between a worker's looks at the queue when no wake-up arrives, and "
            "between a status stream's reads of its job; wake-ups (NOTIFY on PostgreSQL, "
            "in-process on SQLite) come first."
        ),
    )
    lease_s: float = Field(
        default=30.0,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_LEASE_S"),
        description=(
            "Seconds a claimed job is held without news from its worker, which renews the "
            "leases of all its jobs every third of it; an expired lease puts the job back in "
            "the queue."
        ),
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_ATTEMPTS"),
        description=(
            "Attempts before a transient failure becomes final; recorded with each job when "
            "it is submitted."
        ),
    )
    retry_base_s: float = Field(
        default=2.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_RETRY_BASE_S"),
        description=(
            "Backoff before attempt n+1, in seconds: between half and all of "
            "min(`PDFPROMPT_RETRY_CAP_S`, this * 2^(n-1))."
        ),
    )
    retry_cap_s: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_RETRY_CAP_S"),
        description="Longest backoff before a retry, in seconds.",
    )
    max_concurrent_jobs: int = Field(
        default=10,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_CONCURRENT_JOBS"),
        description=(
            "Running jobs per user, across all workers (checked when jobs are claimed); a "
            "plan's own limit applies under it."
        ),
    )
    job_retention_days: float = Field(
        default=90,
        ge=0,
        validation_alias=AliasChoices("PDFPROMPT_JOB_RETENTION_DAYS"),
        description=(
            "Ended jobs without a file are deleted this many days after they ended (a job with "
            "a file lives as long as its file). 0: kept."
        ),
    )
    shutdown_grace_s: float = Field(
        default=30.0,
        ge=0,
        validation_alias=AliasChoices("PDFPROMPT_SHUTDOWN_GRACE_S"),
        description=(
            "Seconds a stopping worker lets its running jobs finish before it hands the rest "
            "back to the queue."
        ),
    )
    max_batch_items: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        validation_alias=AliasChoices("PDFPROMPT_MAX_BATCH_ITEMS"),
        description=(
            "Most rows (jobs) one batch may hold (`POST /v1/batches`); every row is checked "
            "before any is queued, and all are queued in one transaction."
        ),
    )
    max_batch_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=64 * 1024,
        validation_alias=AliasChoices("PDFPROMPT_MAX_BATCH_BYTES"),
        description=(
            "Largest body of `POST /v1/batches` (JSON or an uploaded CSV/JSON Lines file), in "
            "bytes, refused before it is parsed."
        ),
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        validation_alias=AliasChoices("PDFPROMPT_WORKER_NICE"),
        description=(
            "How much lower than the API the rendering runs, as a Unix niceness: "
            "`pdfprompt worker` adds it to its own at start (its Chromium and other child "
            "processes inherit it); `pdfprompt serve`, whose one process also answers the "
            "API, lowers only its Chromium processes. Each browser, in a session of its own, "
            "also lowers its session's scheduler group (kernel autogroups), as does a worker "
            "that leads its own session. Where renders fill the cores, the API comes first "
            'for them (docs/api.md, "Under render load"). 0: unchanged.'
        ),
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("PDFPROMPT_WORKER_METRICS_PORT"),
        description=(
            "`pdfprompt worker` serves Prometheus `/metrics` on this port, on `PDFPROMPT_HOST` "
            "(no token: keep it private). Unset: no metrics listener."
        ),
    )

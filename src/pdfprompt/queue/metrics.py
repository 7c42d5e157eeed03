"""Queue metrics in Prometheus form, one registry per process (passed in, never global)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
STAGE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class QueueMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.claimed = Counter("pdfprompt_jobs_claimed", "Jobs claimed by workers.", registry=r)
        self.succeeded = Counter("pdfprompt_jobs_succeeded", "Jobs that succeeded.", registry=r)
        self.failed = Counter(
            "pdfprompt_jobs_failed", "Jobs that failed for good.", ["code"], registry=r
        )
        self.retried = Counter(
            "pdfprompt_jobs_retried", "Attempts that failed and were queued again.", registry=r
        )
        self.canceled = Counter(
            "pdfprompt_jobs_canceled",
            "Running jobs stopped because they were cancelled.",
            registry=r,
        )
        self.lease_expiries = Counter(
            "pdfprompt_lease_expiries",
            "Jobs whose lease ran out (their worker stopped answering).",
            registry=r,
        )
        self.pickup_latency = Histogram(
            "pdfprompt_pickup_latency_seconds",
            "From a job being due to its claim.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.stage_duration = Histogram(
            "pdfprompt_stage_duration_seconds",
            "Time spent in each stage of a job.",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=r,
        )
        self.loop_turned = Gauge(
            "pdfprompt_worker_loop_turned_seconds",
            "When this worker's claim loop last turned (Unix time); it turns at least once "
            "per poll interval, so an old value means a stuck worker.",
            registry=r,
        )
        self.running = Gauge("pdfprompt_running_jobs", "Jobs this process is running.", registry=r)
        self.queue_depth = Gauge(
            "pdfprompt_queue_depth", "Jobs waiting or running, by status.", ["status"], registry=r
        )
        self.render_cache = Counter(
            "pdfprompt_render_cache",
            "Renders looked up in the render cache, by result (hit: stored bytes reused).",
            ["result"],
            registry=r,
        )
        for result in ("hit", "miss"):
            self.render_cache.labels(result)
        self.quota_warnings = Counter(
            "pdfprompt_quota_warnings",
            "Users who reached the quota warning share of their plan's PDFs in a period.",
            registry=r,
        )
        self.db_pool_in_use = Gauge(
            "pdfprompt_db_pool_in_use", "Database connections checked out.", registry=r
        )

    def track_pool(self, checked_out: Callable[[], int]) -> None:
        self.db_pool_in_use.set_function(lambda: float(checked_out()))

    def set_depth(self, depth: dict[str, int]) -> None:
        for status in ("queued", "running"):
            self.queue_depth.labels(status).set(depth.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)

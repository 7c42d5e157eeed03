"""What the queue is doing, as `pdfprompt stats` and the admin pages show it: how many jobs
wait and run, what ended in the last hour and day, and the webhook backlog; read once here
so that both show the same figures, written the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdfprompt.queue import WindowStats
from pdfprompt.wiring import Services

# The windows shown, by name.
WINDOWS = (("1 hour", 3600.0), ("1 day", 86400.0))


@dataclass(frozen=True, slots=True)
class QueueFigures:
    depth: dict[str, int]  # queued, running
    windows: list[tuple[str, WindowStats]]  # as WINDOWS names them
    webhooks: dict[str, int]  # pending, due, and delivered or failed in the last hour

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON may carry them (`pdfprompt stats --json`)."""
        return {
            "depth": {
                "queued": self.depth.get("queued", 0),
                "running": self.depth.get("running", 0),
            },
            "windows": {
                name: {
                    "window_s": w.window_s,
                    "ended": w.finished,
                    "succeeded": w.succeeded,
                    "failed": w.failed,
                    "canceled": w.canceled,
                    "per_hour": w.per_hour,
                    "error_rate": w.error_rate,
                    "p50_s": w.p50_s,
                    "p95_s": w.p95_s,
                }
                for name, w in self.windows
            },
            "webhooks": dict(self.webhooks),
        }


async def queue_figures(svc: Services) -> QueueFigures:
    depth = await svc.jobs.queue_depth()
    windows = [(name, await svc.jobs.window_stats(s)) for name, s in WINDOWS]
    hooks = await svc.webhook_outbox.backlog(3600.0)
    return QueueFigures(depth, windows, hooks)


def percent(value: float | None) -> str:
    """A rate as shown: `12.5%`, or `-` when there is none."""
    return "-" if value is None else f"{value * 100:.1f}%"


def seconds(value: float | None) -> str:
    """A duration as shown: `1.25s`, or `-` when there is none."""
    return "-" if value is None else f"{value:.2f}s"

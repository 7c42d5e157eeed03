"""`pdfprompt worker`: claim and run jobs (the worker owns its lifecycle and signals), and
`pdfprompt worker --check`, its liveness check for a supervisor or a container's health
check: a worker has no HTTP API, so the check reads its metrics listener."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request

from pdfprompt.cli.common import SubParsers, run_long
from pdfprompt.domain import UnavailableError
from pdfprompt.settings import Settings

LOOP_GAUGE = "pdfprompt_worker_loop_turned_seconds"


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("worker", help="claim and run jobs")
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    w.add_argument(
        "--check",
        action="store_true",
        help=(
            "check that the worker on this host is alive and exit: 0 when its claim loop "
            "turned within --max-age-s (read from its metrics on PDFPROMPT_WORKER_METRICS_PORT)"
        ),
    )
    w.add_argument("--max-age-s", type=float, default=None, help="default: 30 s or 3 polls")
    w.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    if args.check:
        check_worker(settings, args.max_age_s)
        return
    from pdfprompt.wiring import run_worker

    run_long(run_worker(settings, burst=args.burst))


def check_worker(settings: Settings, max_age_s: float | None) -> None:
    """Raise `UnavailableError` (the command exits 1) unless the claim loop turned lately."""
    port = settings.worker_metrics_port
    if port is None:
        raise UnavailableError("set PDFPROMPT_WORKER_METRICS_PORT to check a worker")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
    url = f"http://{host}:{port}/metrics"
    limit_s = max_age_s if max_age_s is not None else max(30.0, 3 * settings.poll_ms / 1000)
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError as exc:
        raise UnavailableError(f"no worker answers on {url} ({exc})") from exc
    turned = next(
        (float(line.split()[1]) for line in text.splitlines() if line.startswith(LOOP_GAUGE)),
        0.0,
    )
    age_s = time.time() - turned
    if turned <= 0 or age_s > limit_s:
        raise UnavailableError(
            f"the worker on {url} has not claimed for {age_s:.0f} s (limit {limit_s:g} s)"
        )
    print(f"worker alive: its claim loop turned {age_s:.1f} s ago", file=sys.stdout)

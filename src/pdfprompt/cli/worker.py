"""`pdfprompt worker`: claim and run jobs (the worker owns its lifecycle and signals)."""

from __future__ import annotations

import argparse

from pdfprompt.cli.common import SubParsers, run_long
from pdfprompt.settings import Settings


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("worker", help="claim and run jobs")
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    w.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    from pdfprompt.wiring import run_worker

    run_long(run_worker(settings, burst=args.burst))

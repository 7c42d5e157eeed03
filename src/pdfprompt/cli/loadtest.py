"""`pdfprompt loadtest`: load any pdfprompt server with a mix of built-in documents at a
fixed rate, watch it live, and report throughput, latency by stage and errors by code
(docs/capacity.md). A client of the server like `submit` (`remote.py`): it reads no settings,
and its exit codes are theirs (0 every job succeeded; 1 some failed or were refused; 2 bad
usage; 3 the key was refused; 4 the server could not be reached)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdfprompt.cli.common import SubParsers
from pdfprompt.cli.loadgen import KINDS, MixError, parse_mix
from pdfprompt.cli.remote import FAILED, OK, UsageError, connection, server_and_key

if TYPE_CHECKING:
    from pdfprompt.cli.loadgen import Run

DEFAULT_MIX = "invoice:70,report5:25,report20:5"


def _mix(text: str) -> dict[str, int]:
    try:
        return parse_mix(text)
    except MixError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind: type[int] | type[float]) -> Any:
    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
        return value

    return read


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "loadtest",
        help="load a pdfprompt server with a mix of documents and report what it sustained",
        description="Submit --jobs jobs at --rate a second (an open-loop schedule), follow "
        "each to its end, and report throughput, latency by stage and errors by code.",
    )
    p.add_argument("--jobs", type=_positive(int), default=100, help="jobs in all (default 100)")
    p.add_argument("--rate", type=_positive(float), default=5.0, help="jobs a second (default 5)")
    p.add_argument(
        "--mix",
        type=_mix,
        default=parse_mix(DEFAULT_MIX),
        help=f"KIND:WEIGHT,...; kinds: {', '.join(KINDS)} (default {DEFAULT_MIX})",
    )
    p.add_argument(
        "--timeout-s",
        type=_positive(float),
        default=300.0,
        help="seconds a job may take after its submission before it counts as an error",
    )
    p.add_argument(
        "--streams", type=_positive(int), default=64, help="jobs followed at once (default 64)"
    )
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    p.add_argument(
        "--every-s",
        type=_positive(float),
        default=5.0,
        help="seconds between progress lines when not on a terminal (default 5)",
    )
    connection(p, timeout=False)
    p.set_defaults(remote=_loadtest)


def _loadtest(args: argparse.Namespace) -> int:
    from pdfprompt.cli.loadgen import plan, report, run_load

    server, key = server_and_key(args)
    asyncio.run(_check(server, key))
    kinds = plan(args.mix, args.jobs)
    watch = Watch(sys.stderr.isatty(), args.every_s)
    run = asyncio.run(
        watch.around(
            run_load(
                server,
                key,
                kinds,
                args.rate,
                timeout_s=args.timeout_s,
                streams=args.streams,
                on_start=watch.start,
            )
        )
    )
    found = report(run, server)
    print(render_report(found))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(found, indent=2) + "\n", "utf-8")
        except OSError as exc:
            raise UsageError(f"--json: cannot write {args.json}: {exc.strerror}") from None
    return OK if found["succeeded"] == found["jobs"] else FAILED


async def _check(server: str, key: str) -> None:
    """One call before the load, so that a wrong server or key stops the run at once."""
    from pdfprompt.client import AsyncClient

    try:
        client = AsyncClient(server, key, retries=0)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    async with client:
        await client.usage()


class Watch:
    """The run's progress on stderr: a live panel on a terminal, else a line every `every_s`."""

    def __init__(self, terminal: bool, every_s: float) -> None:
        self.terminal, self.every_s = terminal, every_s
        self.run: Run | None = None

    def start(self, run: Run) -> None:
        self.run = run

    async def around(self, work: Any) -> Run:
        task = asyncio.ensure_future(work)
        if self.terminal:
            from rich.console import Console
            from rich.live import Live

            with Live(self._table(), console=Console(stderr=True), refresh_per_second=4) as live:
                while not task.done():
                    await asyncio.wait([task], timeout=0.25)
                    live.update(self._table())
        else:
            while not task.done():
                await asyncio.wait([task], timeout=self.every_s)
                if not task.done():
                    print(f"loadtest: {self.line()}", file=sys.stderr, flush=True)
        run: Run = task.result()
        print(f"loadtest: {self.line()}", file=sys.stderr, flush=True)
        return run

    def numbers(self) -> dict[str, float]:
        run = self.run
        if run is None:
            return {}
        elapsed = max(1e-9, (run.ended or time.monotonic()) - run.started)
        ended = run.count("succeeded", "failed", "canceled", "error")
        totals = sorted(o.total_s for o in run.outcomes if o.total_s is not None)
        return {
            "elapsed_s": elapsed,
            "submitted": len(run.outcomes) - run.count("scheduled", "submitting"),
            "queued": run.count("queued"),
            "running": run.count("running"),
            "succeeded": run.count("succeeded"),
            "failed": run.count("failed", "canceled", "error"),
            "submitted_per_s": (len(run.outcomes) - run.count("scheduled")) / elapsed,
            "ended_per_s": ended / elapsed,
            "p50_s": totals[len(totals) // 2] if totals else 0.0,
            "p95_s": totals[min(len(totals) - 1, int(len(totals) * 0.95))] if totals else 0.0,
        }

    def line(self) -> str:
        n = self.numbers()
        if not n:
            return "starting"
        return (
            f"{n['elapsed_s']:.0f} s: submitted {n['submitted']:.0f}, queued {n['queued']:.0f}, "
            f"running {n['running']:.0f}, succeeded {n['succeeded']:.0f}, "
            f"failed {n['failed']:.0f}; {n['submitted_per_s']:.1f} submitted/s, "
            f"{n['ended_per_s']:.1f} ended/s; total latency p50 {n['p50_s']:.2f} s, "
            f"p95 {n['p95_s']:.2f} s"
        )

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title="pdfprompt loadtest", show_header=False)
        n = self.numbers()
        if not n:
            table.add_row("starting")
            return table
        total = len(self.run.outcomes) if self.run else 0
        table.add_row("elapsed", f"{n['elapsed_s']:.1f} s")
        table.add_row("submitted", f"{n['submitted']:.0f} of {total}")
        for name in ("queued", "running", "succeeded", "failed"):
            table.add_row(name, f"{n[name]:.0f}")
        table.add_row(
            "rate", f"{n['submitted_per_s']:.1f} submitted/s, {n['ended_per_s']:.1f} ended/s"
        )
        table.add_row("total latency", f"p50 {n['p50_s']:.2f} s, p95 {n['p95_s']:.2f} s")
        return table


def render_report(found: dict[str, Any]) -> str:
    """The report as text: counts, throughput, latency by stage and errors by code."""
    t = found["throughput"]
    kinds = ", ".join(
        f"{k} {c['succeeded']}/{c['jobs']}" for k, c in sorted(found["by_kind"].items())
    )
    offered = found["offered_per_s"]
    lines = [
        f"server: {found['server']}",
        f"jobs: {found['jobs']} at {found['rate_per_s']:g}/s"
        + (f" (offered {offered:.2f}/s)" if offered else ""),
        f"succeeded {found['succeeded']}, failed {found['failed']}, errors {found['errors']}",
        f"by kind (succeeded/jobs): {kinds}",
        f"throughput: {t['jobs_per_s']:.2f} jobs/s, {t['documents_per_hour']:,.0f} documents/hour "
        f"(first created to last finished: {t['span_s']:.1f} s)",
        "latency, seconds  p50      p95      p99      max",
    ]
    for stage, values in found["latency_s"].items():
        if values is None:
            lines.append(f"  {stage:<15} -")
            continue
        cells = "".join(f"{values[p]:<9.3f}" for p in ("p50", "p95", "p99", "max"))
        lines.append(f"  {stage:<15} {cells}".rstrip())
    errors = found["errors_by_code"]
    if errors:
        lines.append("errors by code:")
        lines += [f"  {code}: {n}" for code, n in sorted(errors.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)

"""`pdfprompt db`, `plans` and `stats`: the database schema, the plans in force, and what
the queue is doing."""

from __future__ import annotations

import argparse
import asyncio
import json

from pdfprompt.cli.common import SubParsers
from pdfprompt.settings import Settings


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database administration")
    dbs = db.add_subparsers(dest="db_command", required=True)
    dbs.add_parser("upgrade", help="apply migrations")
    db.set_defaults(run=lambda args, settings: asyncio.run(_db_upgrade(settings)))

    plans = sub.add_parser("plans", help="the plans in force")
    ps = plans.add_subparsers(dest="plans_command", required=True)
    ps.add_parser("list", help="list plans and their limits")
    plans.set_defaults(run=lambda args, settings: _plans_list(settings))

    stats = sub.add_parser("stats", help="queue depth, throughput, error rate and latency")
    stats.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    stats.set_defaults(run=lambda args, settings: asyncio.run(_stats(settings, as_json=args.json)))


async def _db_upgrade(settings: Settings) -> None:
    from pdfprompt.wiring import upgrade_database

    await upgrade_database(settings)
    print("database is up to date")


def _plans_list(settings: Settings) -> None:
    from pdfprompt.wiring import plans_in_force

    def shown(value: object) -> str:
        return "unlimited" if value is None else str(value)

    plans = plans_in_force(settings, check_default=False)  # shown even when the default is wrong
    columns = [f for f in next(iter(plans.values())).as_dict() if f != "name"]
    rows = [["plan", *columns]]
    for plan in plans.values():
        values = plan.as_dict()
        default = " (default)" if plan.name == settings.default_plan else ""
        rows.append([plan.name + default, *(shown(values[c]) for c in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


async def _stats(settings: Settings, *, as_json: bool) -> None:
    from pdfprompt.actions import percent, queue_figures, seconds
    from pdfprompt.wiring import prepare_database

    svc = await prepare_database(settings)
    try:
        figures = await queue_figures(svc)
    finally:
        await svc.engine.dispose()
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    depth, hooks = figures.depth, figures.webhooks
    print(f"queue depth   queued {depth.get('queued', 0)}   running {depth.get('running', 0)}")
    print(
        f"{'window':8} {'ended':>7} {'ok':>7} {'failed':>7} {'canceled':>8} "
        f"{'per hour':>9} {'errors':>7} {'p50':>8} {'p95':>8}"
    )
    for name, w in figures.windows:
        print(
            f"{name:8} {w.finished:>7} {w.succeeded:>7} {w.failed:>7} {w.canceled:>8} "
            f"{w.per_hour:>9.1f} {percent(w.error_rate):>7} {seconds(w.p50_s):>8} "
            f"{seconds(w.p95_s):>8}"
        )
    print(
        f"webhooks      pending {hooks['pending']} (due now {hooks['due']})   last hour: "
        f"delivered {hooks['succeeded']}, failed for good {hooks['failed']}"
    )

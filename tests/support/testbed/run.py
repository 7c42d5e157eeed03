"""One run of the bed: a workload submitted while a nemesis injects faults, then healing,
draining and the checker."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.support.testbed.checker import Findings, check
from tests.support.testbed.hosts import Bed
from tests.support.testbed.nemesis import KINDS, Nemesis
from tests.support.testbed.workload import Workload


@dataclass
class Outcome:
    findings: Findings
    nemesis: Nemesis
    work: Workload
    submit_s: float
    drain_s: float  # from the last fault healed to the last job ended; -1: not drained

    def report(self) -> str:
        lines = [
            f"jobs submitted: {len(self.work.submissions)} by {len(self.work.users)} users "
            f"({dict(self.work.kinds())})",
            f"submitting took {self.submit_s:.1f} s",
            f"faults injected: {sum(self.nemesis.injected.values())} {dict(self.nemesis.injected)}",
            f"time to drain after healing: {self.drain_s:.1f} s",
        ]
        if self.nemesis.errors:
            lines.append(f"nemesis errors: {self.nemesis.errors[:5]}")
        lines.append("checker:")
        lines.append(self.findings.report())
        return "\n".join(lines)


def run(
    bed: Bed,
    *,
    kinds: tuple[str, ...] = KINDS,
    jobs: int = 60,
    users: int = 5,
    hooks: int = 2,
    every_s: float = 2.0,
    hold_s: float = 2.0,
    pace_s: float | None = None,
    clients: int = 8,
    rounds: int = 1,
    drain_timeout_s: float = 240,
    seed: int = 7,
    faults_until_pending: int | None = None,
) -> Outcome:
    """Submit `jobs` while faults of `kinds` come every `every_s`; faults go on until every
    kind was injected `rounds` times and the jobs have been submitted (and, with
    `faults_until_pending`, until no more than that many jobs are still to run)."""
    work = Workload(bed, users=users, jobs=jobs, hooks=hooks, seed=seed)
    work.make_users()
    work.plan()
    if pace_s is None:  # spread the submissions over the faults
        pace_s = min(0.5, len(kinds) * rounds * every_s / max(jobs, 1))
    nemesis = Nemesis(bed, kinds=kinds, every_s=every_s, hold_s=hold_s, seed=seed)
    work.start_sampler()
    if kinds:
        nemesis.start()
    started = time.monotonic()
    try:
        work.submit_all(clients=clients, pace_s=pace_s)
        submit_s = time.monotonic() - started
        deadline = time.monotonic() + len(kinds) * rounds * (every_s + 3 * hold_s + 10) + 60
        while time.monotonic() < deadline and any(nemesis.injected[k] < rounds for k in kinds):
            time.sleep(0.2)
        while faults_until_pending is not None and time.monotonic() < deadline + drain_timeout_s:
            if work.pending() <= faults_until_pending:
                break
            time.sleep(1.0)
    finally:
        nemesis.stop()
        nemesis.heal_check()
    drain_s = work.wait_drained(drain_timeout_s)
    work.stop_sampler()
    assert bed.receiver is not None
    _wait_for_events(bed, work)
    return Outcome(check(bed, work), nemesis, work, submit_s, drain_s)


def _wait_for_events(bed: Bed, work: Workload, timeout_s: float = 60) -> None:
    """Until the webhook outbox has nothing left to send for this workload's users."""
    ids = [u.user_id for u in work.users if u.hook_secret]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            rows = bed.query(
                "select count(*) as n from webhook_deliveries d join webhooks w "
                "on w.id = d.webhook_id where w.user_id::text = any($1::text[]) "
                "and d.status not in ('delivered', 'failed')",
                ids,
            )
            if rows[0]["n"] == 0:
                return
        except Exception:
            pass
        time.sleep(0.5)

"""Fault benchmark: many jobs through separate hosts while faults come every few seconds,
then the checker's findings.

    scripts/bench.sh chaos [--jobs 3000] [--users 5] [--fault-every-s 5]

Needs root (network namespaces, iptables). The test bed of tests/faults
(tests/support/testbed) at full size: PostgreSQL (a cluster of its own, fsync on), moto's
S3 server, two API hosts, three worker hosts (one with its wall clock hours ahead, through
libfaketime), the fake LLM and a webhook receiver, each in its own network namespace. Users
submit through both API hosts with Idempotency-Keys, retrying with the same key; the
nemesis cycles through every fault kind (tests/support/testbed/nemesis.py) until the queue
is nearly drained, then heals; the report gives the jobs, the faults by kind, the time to
drain after healing and the checker's findings (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.testbed.hosts import WORKERS, BedConfig, bed, faketime_available, pg_bin
from tests.support.testbed.net import can_make_namespaces
from tests.support.testbed.run import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--fault-every-s", type=float, default=5.0)
    ap.add_argument("--hold-s", type=float, default=3.0, help="how long a fault lasts")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=2, help="job slots per worker")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    problem = can_make_namespaces()
    if problem is not None:
        sys.exit(f"chaos bench: {problem}")
    pg_version = subprocess.run(
        [pg_bin("postgres"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.release()}")
    print(f"{pg_version}; fsync on; libfaketime: {faketime_available()}")
    print(f"command: scripts/bench.sh chaos {' '.join(sys.argv[1:])}", flush=True)
    config = BedConfig(fsync=True, worker_concurrency=args.concurrency)
    started = time.monotonic()
    with bed(config) as made:
        up_s = time.monotonic() - started
        print(f"bed up in {up_s:.1f} s", flush=True)
        outcome = run(
            made,
            jobs=args.jobs,
            users=args.users,
            hooks=2,
            every_s=args.fault_every_s,
            hold_s=args.hold_s,
            pace_s=0.0,
            clients=args.clients,
            drain_timeout_s=3600,
            faults_until_pending=max(10, args.jobs // 50),
        )
        total_s = time.monotonic() - started - up_s
        per_worker = {w: made.services[w].log().count("succeeded in") for w in WORKERS}
        print(outcome.report())
        print(f"jobs run per worker host (from their logs): {per_worker}")
        print(f"skewed worker: {config.skewed_worker} ({config.skew})")
        print(f"whole run: {total_s:.0f} s; faults:")
        print("\n".join(outcome.nemesis.log))
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "jobs": args.jobs,
                        "faults": dict(outcome.nemesis.injected),
                        "drain_s": outcome.drain_s,
                        "run_s": total_s,
                        "counts": outcome.findings.counts,
                        "problems": dict(outcome.findings.problems),
                        "per_worker": per_worker,
                    },
                    indent=1,
                )
            )
    sys.exit(0 if outcome.findings.clean else 1)


if __name__ == "__main__":
    main()

"""What the bed proves once the faults have healed and the queue has drained: nothing
accepted was lost, nothing was stored twice or left behind, quotas count what succeeded,
every subscribed event arrived signed and none was made up, the per-user running cap held,
and no client retry made a second job."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from pdfprompt.webhooks.signing import SIGNATURE_HEADER, verify
from tests.support.databases import S3_TEST_ENV
from tests.support.testbed.hosts import Bed
from tests.support.testbed.workload import Workload

EXAMPLES = 5  # examples kept per kind of finding


@dataclass
class Findings:
    counts: dict[str, int] = field(default_factory=dict)  # what was checked
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, example: str) -> None:
        self.problems[kind].append(example)

    @property
    def clean(self) -> bool:
        return not any(self.problems.values())

    def report(self) -> str:
        lines = [f"  {k}: {v}" for k, v in self.counts.items()]
        for kind, examples in self.problems.items():
            if examples:
                lines.append(f"  FINDING {kind}: {len(examples)}")
                lines += [f"    e.g. {e}" for e in examples[:EXAMPLES]]
        lines.append("  clean" if self.clean else "  NOT CLEAN")
        return "\n".join(lines)


def run_orphan_sweep(bed: Bed) -> int:
    """pdfprompt's own orphan sweep (`sweep_orphans`, which every worker runs hourly), once,
    with no grace period (nothing runs any more), from the client host."""

    async def sweep() -> int:
        from sqlalchemy.ext.asyncio import create_async_engine

        from pdfprompt.queue import job_store_for, sweep_orphans
        from pdfprompt.storage import S3Storage

        for name, value in S3_TEST_ENV.items():  # the bed's credentials, as the workers'
            os.environ.setdefault(name, value)
        url = bed.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url)
        try:
            storage = S3Storage(bed.bucket, bed.storage_prefix, endpoint_url=bed.s3_url)
            return await sweep_orphans(job_store_for(engine), storage, grace_s=0)
        finally:
            await engine.dispose()

    return bed.on_client(lambda: asyncio.run(sweep()))


def bucket_keys(bed: Bed) -> set[str]:
    def listing() -> set[str]:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=bed.s3_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        keys: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bed.bucket):
            keys.update(o["Key"] for o in page.get("Contents", []))
        return keys

    return bed.on_client(listing)


def check(bed: Bed, work: Workload) -> Findings:
    f = Findings()
    subs = work.submissions
    accepted = [s for s in subs if s.accepted]
    f.counts["submissions"] = len(subs)
    f.counts["accepted"] = len(accepted)
    f.counts["refused (4xx)"] = sum(1 for s in subs if s.refused)
    f.counts["client tries"] = sum(s.tries for s in subs)
    f.counts["submissions retried"] = sum(1 for s in subs if s.tries > 1)
    f.counts["retried on the other API host"] = sum(1 for s in subs if len(s.hosts) > 1)
    for s in subs:
        if not s.accepted and not s.refused:
            f.add("never answered", f"{s.idempotency_key} after {s.tries} tries")
        if s.refused:
            f.add("refused", f"{s.kind} {s.idempotency_key}: {s.refused}")

    # This workload's users only: a bed may serve several workloads, one after another.
    user_ids = [u.user_id for u in work.users]
    jobs = {
        str(r["id"]): r
        for r in bed.query(
            "select id, user_id::text as user_id, status, error_code, error_message, "
            "idempotency_key, file_id::text as file_id from jobs "
            "where user_id::text = any($1::text[])",
            user_ids,
        )
    }
    all_files = bed.query(
        "select id::text as id, job_id::text as job_id, user_id::text as user_id, "
        "storage_key, thumbnail_key, html_key from files"
    )
    files = [r for r in all_files if r["user_id"] in user_ids]
    f.counts["jobs in the database"] = len(jobs)

    # No client retry made a second job: one id per key, one job per (user, key).
    for s in accepted:
        if len(s.job_ids) > 1:
            f.add("retry made a second job", f"{s.idempotency_key}: {sorted(s.job_ids)}")
    per_key = Counter((r["user_id"], r["idempotency_key"]) for r in jobs.values())
    for (user, key), n in per_key.items():
        if key is not None and n > 1:
            f.add("retry made a second job", f"user {user} key {key}: {n} jobs")
    ours = {s.idempotency_key for s in subs}
    for r in jobs.values():
        if r["idempotency_key"] not in ours:
            f.add("job nobody submitted", str(r["id"]))

    # Nothing lost: every accepted job succeeded.
    succeeded = 0
    for s in accepted:
        for job_id in s.job_ids:
            row = jobs.get(job_id)
            if row is None:
                f.add("lost (no row)", job_id)
            elif row["status"] == "succeeded":
                succeeded += 1
            else:
                f.add(
                    "lost (did not succeed)",
                    f"{job_id} {s.kind}: {row['status']} {row['error_code']} "
                    f"{row['error_message']}",
                )
    f.counts["succeeded"] = succeeded

    # One file row and one stored object per job; nothing unreferenced after the sweep.
    files_per_job = Counter(r["job_id"] for r in files)
    for r in jobs.values():
        if r["status"] == "succeeded" and files_per_job[str(r["id"])] != 1:
            f.add("file rows per succeeded job != 1", f"{r['id']}: {files_per_job[str(r['id'])]}")
        if r["status"] == "succeeded" and r["file_id"] is None:
            f.add("succeeded without a file", str(r["id"]))
    f.counts["file rows"] = len(files)
    swept = run_orphan_sweep(bed)
    f.counts["orphans removed by the sweep"] = swept
    stored = bucket_keys(bed)
    f.counts["stored objects after the sweep"] = len(stored)
    prefix = bed.storage_prefix
    referenced: set[str] = set()
    for r in all_files:
        keys = (r["storage_key"], r["thumbnail_key"], r["html_key"])
        referenced.update(prefix + k for k in keys if k)
        if prefix + r["storage_key"] not in stored:
            f.add("file row without its object", f"{r['job_id']}: {r['storage_key']}")
    for key in sorted(stored - referenced):
        f.add("unreferenced object after the sweep", key)
    pdfs = [k for k in stored if k.endswith(".pdf")]
    f.counts["stored PDFs"] = len(pdfs)
    if len(pdfs) != len(all_files):
        f.add("stored PDFs != file rows", f"{len(pdfs)} PDFs, {len(all_files)} rows")

    # Quota: used per user is what succeeded, nothing still reserved.
    usage = {
        r["user_id"]: (r["used"], r["reserved"])
        for r in bed.query(
            "select user_id::text as user_id, sum(used) as used, sum(reserved) as reserved "
            "from usage_counters group by user_id"
        )
    }
    done = Counter(r["user_id"] for r in jobs.values() if r["status"] == "succeeded")
    for u in work.users:
        used, reserved = usage.get(u.user_id, (0, 0))
        if used != done[u.user_id] or reserved != 0:
            f.add(
                "quota wrong",
                f"{u.email}: used {used}, reserved {reserved}, succeeded {done[u.user_id]}",
            )

    # Webhooks: every event of a subscribed user delivered, signed; none made up.
    assert bed.receiver is not None
    secrets = {u.user_id: u.hook_secret for u in work.users if u.hook_secret}
    owner_of = {job_id: r["user_id"] for job_id, r in jobs.items()}
    every_job = {str(r["id"]) for r in bed.query("select id from jobs")}
    delivered: set[tuple[str, str]] = set()
    hits = list(bed.receiver.hits)
    f.counts["webhook requests received"] = len(hits)
    for hit in hits:
        event: dict[str, Any] = json.loads(hit.body)
        job = (event.get("data") or {}).get("job") or {}
        job_id, kind = str(job.get("id")), str(event.get("type"))
        owner = owner_of.get(job_id)
        secret = secrets.get(owner or "")
        header = {k.lower(): v for k, v in hit.headers.items()}.get(SIGNATURE_HEADER.lower(), "")
        if owner is None and job_id in every_job:
            continue  # a job of an earlier workload on this bed
        if secret is None:
            f.add("event made up", f"{kind} for {job_id} (no subscribed owner)")
            continue
        if not verify(secret, hit.body, header, now=hit.received_at or None):
            f.add("bad signature", f"{kind} {job_id}: {header}")
            continue
        if kind != f"job.{jobs[job_id]['status']}":
            f.add("event made up", f"{kind} for {job_id}, which is {jobs[job_id]['status']}")
        delivered.add((job_id, kind))
    expected = {
        (job_id, f"job.{r['status']}")
        for job_id, r in jobs.items()
        if r["user_id"] in secrets and r["status"] in ("succeeded", "failed")
    }
    f.counts["events expected"] = len(expected)
    for job_id, kind in sorted(expected - delivered):
        f.add("event not delivered", f"{kind} {job_id}")

    # The running cap per user held in every sample.
    cap = bed.config.per_user_cap
    f.counts["running samples"] = len(work.running_samples)
    f.counts["most running for one user"] = max(
        (n for s in work.running_samples for n in s.values()), default=0
    )
    for sample in work.running_samples:
        for user, n in sample.items():
            if n > cap:
                f.add("running cap exceeded", f"user {user}: {n} running (cap {cap})")
    return f


def summary_json(f: Findings) -> str:
    return json.dumps({"counts": f.counts, "problems": dict(f.problems)}, indent=1)

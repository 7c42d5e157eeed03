"""The load generator behind `pdfprompt loadtest`: a mix of built-in documents submitted on an
open-loop schedule (job i is sent at start + i / rate, whether or not earlier jobs have been
answered, so a slow server shows up as latency, not as a lower offered rate), each job
followed to its end, and what happened summed up from the jobs' own timestamps.

It calls the server through `pdfprompt.client` only; `bench/scale_bench.py` drives it too."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client loads only when a load test runs, not for `--help` or parsing
    from pdfprompt.client import ClientError, Job

# The built-in documents: the corpus HTML files shipped in `cli/corpus/`, a Markdown note and a
# prompt (the server's model writes its document).
CORPUS_FILES = {"invoice": "invoice.html", "report5": "report5.html", "report20": "report20.html"}
KINDS = (*CORPUS_FILES, "markdown", "prompt")
MARKDOWN = """# Load test note {mark}

A short Markdown document with a table and a list.

| item | quantity | price |
|---|---:|---:|
| Paper | 12 | 4.50 |
| Toner | 2 | 61.00 |

- first point
- second point
"""
PROMPT = "A one-page quarterly summary for a small bakery ({mark}): sales, costs, next steps."


class MixError(ValueError):
    """A `--mix` that names an unknown document or a bad weight."""


def parse_mix(text: str) -> dict[str, int]:
    """`invoice:70,report5:25,prompt:5` as {kind: weight}; MixError says what is wrong."""
    mix: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, sep, weight = part.partition(":")
        kind = kind.strip()
        if kind not in KINDS:
            raise MixError(f"unknown document {kind!r} (known: {', '.join(KINDS)})")
        if kind in mix:
            raise MixError(f"{kind!r} is named twice")
        try:
            value = int(weight) if sep else 1
        except ValueError:
            raise MixError(f"{kind}: the weight {weight!r} is not a whole number") from None
        if value < 0:
            raise MixError(f"{kind}: the weight must not be negative")
        if value:
            mix[kind] = value
    if not mix:
        raise MixError("name at least one document with a weight above 0, e.g. invoice:1")
    return mix


def plan(mix: dict[str, int], jobs: int) -> list[str]:
    """The kind of each job: every kind as close to its share as whole jobs allow at every
    point of the run (the kind furthest behind its share goes next), so the mix holds in any
    stretch of the schedule, not only in total."""
    total = sum(mix.values())
    given = dict.fromkeys(mix, 0)
    kinds: list[str] = []
    for i in range(jobs):
        kind = max(mix, key=lambda k: mix[k] * (i + 1) / total - given[k])
        given[kind] += 1
        kinds.append(kind)
    return kinds


def corpus_html(kind: str) -> str:
    return (resources.files("pdfprompt.cli") / "corpus" / CORPUS_FILES[kind]).read_text("utf-8")


@dataclass(frozen=True)
class Request:
    """What one job sends: its type, input and options."""

    type: str
    input: str
    options: dict[str, Any]


def requests_for(kinds: list[str], run: str) -> list[Request]:
    """One request per kind, each unique to the run and the job (the PDF's title, and the text
    for Markdown and prompts), so no render or model answer cached earlier serves it."""
    html = {kind: corpus_html(kind) for kind in set(kinds) & set(CORPUS_FILES)}
    out = []
    for i, kind in enumerate(kinds):
        mark = f"load {run} #{i}"
        options = {"title": mark}
        if kind in CORPUS_FILES:
            out.append(Request("html", html[kind], options))
        elif kind == "markdown":
            out.append(Request("markdown", MARKDOWN.format(mark=mark), options))
        else:
            out.append(Request("prompt", PROMPT.format(mark=mark), options))
    return out


@dataclass
class Outcome:
    """One job: its kind, how the submission went and, once it ended, its stage times (from
    the job's own created/started/finished timestamps)."""

    kind: str
    status: str = "scheduled"  # submitting, queued, running, succeeded, failed, canceled, error
    error: str | None = None  # e.g. "429 rate_limited", "job render_timeout", "connection"
    submit_s: float | None = None
    wait_s: float | None = None
    render_s: float | None = None
    total_s: float | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class Run:
    """A load test as it goes: the outcomes, in schedule order, and when it started."""

    outcomes: list[Outcome]
    rate: float
    started: float = field(default_factory=time.monotonic)
    submitted_last: float | None = None
    ended: float | None = None

    def count(self, *statuses: str) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)


def _stages(outcome: Outcome, job: Job) -> None:
    outcome.created_at, outcome.finished_at = job.created_at, job.finished_at
    if job.created_at and job.started_at:
        outcome.wait_s = (job.started_at - job.created_at).total_seconds()
    if job.started_at and job.finished_at:
        outcome.render_s = (job.finished_at - job.started_at).total_seconds()
    if job.created_at and job.finished_at:
        outcome.total_s = (job.finished_at - job.created_at).total_seconds()


def _why(exc: ClientError) -> str:
    from pdfprompt.client import ApiError, NetworkError

    if isinstance(exc, ApiError):
        return f"{exc.status} {exc.code}"
    if isinstance(exc, NetworkError):  # which: no connection, no answer in time, ...
        cause = exc.__cause__
        return f"connection ({type(cause).__name__})" if cause is not None else "connection"
    return type(exc).__name__


async def run_load(
    server: str,
    key: str,
    kinds: list[str],
    rate: float,
    *,
    timeout_s: float,
    streams: int = 64,
    on_start: Callable[[Run], None] | None = None,
) -> Run:
    """Submit a job of each kind at `rate` a second and follow each to its end (its event
    stream, `streams` at a time; polling when a stream breaks); a job not ended `timeout_s`
    after its submission counts as an error (`timeout`). Submissions are not retried, so
    every refusal is counted."""
    from pdfprompt.client import AsyncClient, ClientError, NetworkError, WaitTimeout

    run = Run([Outcome(kind) for kind in kinds], rate)
    requests = requests_for(kinds, uuid.uuid4().hex[:8])
    following = asyncio.Semaphore(streams)
    # Two clients, so that streams being followed never hold up a submission's connection.
    async with (
        AsyncClient(server, key, retries=0) as submitter,
        AsyncClient(server, key) as follower,
    ):

        async def one(i: int) -> None:
            outcome, request = run.outcomes[i], requests[i]
            outcome.status = "submitting"
            sent = time.monotonic()
            try:
                job = await submitter.submit(request.type, request.input, request.options)
            except ClientError as exc:
                outcome.status, outcome.error = "error", _why(exc)
                if not isinstance(exc, NetworkError):  # an answer came: it is timed
                    outcome.submit_s = time.monotonic() - sent
                return
            outcome.submit_s = time.monotonic() - sent
            outcome.status = "queued"
            deadline = sent + timeout_s

            def seen(now: Job) -> None:
                if now.status == "running":
                    outcome.status = "running"

            try:
                async with following:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise WaitTimeout("timeout")
                    job = await follower.wait(job, timeout=left, on_change=seen)
            except WaitTimeout:
                outcome.status, outcome.error = "error", "timeout"
                return
            except ClientError as exc:
                outcome.status, outcome.error = "error", _why(exc)
                return
            _stages(outcome, job)
            outcome.status = job.status
            if job.status != "succeeded":
                outcome.error = f"job {job.error.code if job.error else job.status}"

        if on_start is not None:
            on_start(run)
        run.started = time.monotonic()
        tasks = []
        for i in range(len(kinds)):
            delay = run.started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        run.submitted_last = time.monotonic()
        await asyncio.gather(*tasks)
    run.ended = time.monotonic()
    return run


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50, p95, p99 and max of `values` (nearest rank), or None for none."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": ordered[-1]}


STAGES = {
    "submit": "the answer to POST /v1/jobs (client clock)",
    "wait": "queued to started (the job's created_at to started_at)",
    "render": "started to finished (started_at to finished_at)",
    "total": "queued to finished (created_at to finished_at)",
}


def report(run: Run, server: str) -> dict[str, Any]:
    """What the run measured, as the JSON report writes it (seconds throughout)."""
    done = [o for o in run.outcomes if o.status == "succeeded"]
    ended = [o for o in done if o.created_at and o.finished_at]
    span_s = 0.0
    if ended:
        first = min(o.created_at for o in ended if o.created_at)
        last = max(o.finished_at for o in ended if o.finished_at)
        span_s = (last - first).total_seconds()
    per_s = len(ended) / span_s if span_s > 0 else 0.0
    errors: dict[str, int] = {}
    for o in run.outcomes:
        if o.error:
            errors[o.error] = errors.get(o.error, 0) + 1
    by_kind: dict[str, dict[str, int]] = {}
    for o in run.outcomes:
        counts = by_kind.setdefault(o.kind, {"jobs": 0, "succeeded": 0})
        counts["jobs"] += 1
        counts["succeeded"] += o.status == "succeeded"
    submitting_s = (run.submitted_last or run.started) - run.started
    offered = (len(run.outcomes) - 1) / submitting_s if submitting_s > 0 else None
    latency: dict[str, dict[str, float] | None] = {
        "submit": percentiles([o.submit_s for o in run.outcomes if o.submit_s is not None]),
        "wait": percentiles([o.wait_s for o in done if o.wait_s is not None]),
        "render": percentiles([o.render_s for o in done if o.render_s is not None]),
        "total": percentiles([o.total_s for o in done if o.total_s is not None]),
    }
    return {
        "server": server,
        "jobs": len(run.outcomes),
        "rate_per_s": run.rate,
        "offered_per_s": offered,
        "succeeded": len(done),
        "failed": run.count("failed", "canceled"),
        "errors": sum(errors.values()) - run.count("failed", "canceled"),
        "by_kind": by_kind,
        "seconds": (run.ended or time.monotonic()) - run.started,
        "throughput": {
            "span_s": span_s,
            "jobs_per_s": per_s,
            "documents_per_hour": per_s * 3600,
        },
        "latency_s": latency,
        "stages": STAGES,
        "errors_by_code": errors,
    }

"""`pdfprompt loadtest`'s pieces: the mix as written on the command line, the schedule of
kinds it makes, every job's request unique, and the report's percentiles and counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pdfprompt.cli.loadgen import (
    CORPUS_FILES,
    MixError,
    Outcome,
    Run,
    corpus_html,
    parse_mix,
    percentiles,
    plan,
    report,
    requests_for,
)


def test_a_mix_reads_kinds_and_weights() -> None:
    assert parse_mix("invoice:70, report5:25,report20:5") == {
        "invoice": 70,
        "report5": 25,
        "report20": 5,
    }
    assert parse_mix("prompt") == {"prompt": 1}
    assert parse_mix("markdown:2,invoice:0") == {"markdown": 2}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("novel:3", "unknown document 'novel'"),
        ("invoice:1,invoice:2", "named twice"),
        ("invoice:x", "not a whole number"),
        ("invoice:-1", "must not be negative"),
        ("", "at least one document"),
    ],
)
def test_a_bad_mix_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(MixError, match=said):
        parse_mix(text)


def test_the_plan_keeps_the_mix_in_every_stretch() -> None:
    kinds = plan({"invoice": 70, "report5": 25, "report20": 5}, 100)
    assert [kinds.count(k) for k in ("invoice", "report5", "report20")] == [70, 25, 5]
    first = kinds[:20]  # not all invoices first: the mix holds early on too
    assert first.count("invoice") == 14 and first.count("report5") == 5
    assert first.count("report20") == 1


def test_each_request_is_unique_to_its_run_and_job() -> None:
    kinds = ["invoice", "invoice", "markdown", "prompt"]
    one, two = requests_for(kinds, "aaaa"), requests_for(kinds, "bbbb")
    assert [r.type for r in one] == ["html", "html", "markdown", "prompt"]
    titles = {r.options["title"] for r in [*one, *two]}
    assert len(titles) == 8
    assert one[0].input == one[1].input == corpus_html("invoice")
    assert one[2].input != two[2].input and one[3].input != two[3].input


@pytest.mark.parametrize("kind", sorted(CORPUS_FILES))
def test_the_corpus_ships_with_the_package(kind: str) -> None:
    # bench/corpus links to these files: the benchmarks and `loadtest` print the same ones.
    html = corpus_html(kind)
    assert html.lstrip().lower().startswith("<!doctype html") and "</html>" in html


def test_percentiles_are_nearest_rank() -> None:
    assert percentiles([]) is None
    found = percentiles([float(v) for v in range(1, 101)])
    assert found == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([3.0]) == {"p50": 3.0, "p95": 3.0, "p99": 3.0, "max": 3.0}


def test_the_report_counts_kinds_errors_and_throughput() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    done = [
        Outcome(
            "invoice",
            status="succeeded",
            submit_s=0.01,
            wait_s=0.1,
            render_s=0.2,
            total_s=0.3,
            created_at=t0 + timedelta(seconds=i),
            finished_at=t0 + timedelta(seconds=i + 1),
        )
        for i in range(4)
    ]
    bad = [
        Outcome("report5", status="failed", error="job render_timeout", submit_s=0.02),
        Outcome("report5", status="error", error="429 rate_limited"),
        Outcome("report5", status="error", error="connection"),
    ]
    run = Run([*done, *bad], rate=2.0, started=0.0, submitted_last=3.0, ended=6.0)
    found = report(run, "http://server")
    assert (found["succeeded"], found["failed"], found["errors"]) == (4, 1, 2)
    assert found["by_kind"] == {
        "invoice": {"jobs": 4, "succeeded": 4},
        "report5": {"jobs": 3, "succeeded": 0},
    }
    assert found["errors_by_code"] == {
        "job render_timeout": 1,
        "429 rate_limited": 1,
        "connection": 1,
    }
    assert found["throughput"]["span_s"] == 4.0  # first created to last finished
    assert found["throughput"]["jobs_per_s"] == 1.0
    assert found["throughput"]["documents_per_hour"] == 3600.0
    assert found["offered_per_s"] == 2.0  # 7 jobs, the last sent 3 s after the first
    assert found["latency_s"]["render"] == {"p50": 0.2, "p95": 0.2, "p99": 0.2, "max": 0.2}
    assert found["latency_s"]["submit"]["max"] == 0.02  # a failed job was answered too

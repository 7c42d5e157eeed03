"""`pdfprompt loadtest` as an operator runs it against `pdfprompt serve` on SQLite: every job
of the mix succeeds, counted by kind, and the JSON report holds throughput, latency by stage
and errors by code; a bad `--mix` or a refused key is one clear line and its exit code."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import Process, cli, create_key, serving

Served = tuple[Process, dict[str, str]]


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with serving(request, tmp_path_factory.mktemp("loadtest"), "sqlite") as found:
        yield found


def _client_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("PDFPROMPT_SERVER", "PDFPROMPT_KEY")}


def test_a_mix_of_jobs_all_succeed_and_are_reported(served: Served, tmp_path: Path) -> None:
    server, env = served
    key = create_key(env, f"load-{uuid.uuid4().hex[:12]}@example.com")
    out = tmp_path / "report.json"
    done = cli(
        _client_env(env),
        *("loadtest", "--server", server.base_url, "--key", key),
        *("--jobs", "10", "--rate", "20", "--mix", "invoice:6,markdown:3,report5:1"),
        *("--timeout-s", "120", "--json", str(out)),
    )
    assert "succeeded 10, failed 0, errors 0" in done.stdout
    assert "invoice 6/6" in done.stdout
    assert "loadtest:" in done.stderr  # progress lines when stderr is not a terminal
    found = json.loads(out.read_text())
    assert found["jobs"] == found["succeeded"] == 10
    assert found["failed"] == found["errors"] == 0
    assert found["errors_by_code"] == {}
    assert found["by_kind"] == {
        "invoice": {"jobs": 6, "succeeded": 6},
        "markdown": {"jobs": 3, "succeeded": 3},
        "report5": {"jobs": 1, "succeeded": 1},
    }
    assert found["throughput"]["jobs_per_s"] > 0
    assert found["throughput"]["documents_per_hour"] == pytest.approx(
        found["throughput"]["jobs_per_s"] * 3600
    )
    for stage in ("submit", "wait", "render", "total"):
        values = found["latency_s"][stage]
        assert 0 <= values["p50"] <= values["p95"] <= values["p99"] <= values["max"], stage
    # The stages add up: queued-to-finished is at least the render of the slowest job.
    assert found["latency_s"]["total"]["max"] >= found["latency_s"]["render"]["max"]


@pytest.mark.parametrize(
    ("mix", "said"),
    [
        ("invoice:70,novel:30", "unknown document 'novel'"),
        ("invoice:lots", "invoice: the weight 'lots' is not a whole number"),
        ("invoice:0", "name at least one document"),
    ],
)
def test_a_bad_mix_is_a_usage_error(served: Served, mix: str, said: str) -> None:
    server, env = served
    done = cli(
        _client_env(env),
        *("loadtest", "--server", server.base_url, "--key", "unused", "--mix", mix),
        check=False,
    )
    assert done.returncode == 2
    assert f"argument --mix: {said}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_key_stops_before_any_load(served: Served) -> None:
    server, env = served
    done = cli(
        _client_env(env),
        *("loadtest", "--server", server.base_url, "--key", "pp_not_a_key", "--jobs", "5"),
        check=False,
    )
    assert done.returncode == 3
    assert "refused the key" in done.stderr
    assert done.stdout == ""

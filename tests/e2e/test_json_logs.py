"""`pdfprompt serve` with `PDFPROMPT_LOG_FORMAT=json`: every line it writes is a JSON object,
and the lines about a job name the job, its owner, the worker, the attempt, the stage and
the id of the request that submitted it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import wait_final
from tests.support.processes import create_key, serving

REQUEST_ID = "test-request:7f3a/run=1"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_json_lines_carry_the_job_and_the_request(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    with serving(request, tmp_path, database, PDFPROMPT_LOG_FORMAT="json") as (server, env):
        key = create_key(env, "logs@example.com")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as c:
            sent = c.post(
                "/v1/jobs",
                json={"type": "markdown", "input": "# Logged\n\nA job whose lines are read."},
                headers={"X-Request-Id": REQUEST_ID},
            )
            assert sent.status_code == 202, sent.text
            assert sent.headers["X-Request-Id"] == REQUEST_ID
            job_id = sent.json()["id"]
            assert wait_final(c, job_id)[0]["status"] == "succeeded"
            # An unsafe id is replaced by a new one, sent back; none sent: one is made.
            replaced = c.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
            made = c.get("/healthz")
            for answer in (replaced, made):
                assert len(answer.headers["X-Request-Id"]) == 32
            assert replaced.headers["X-Request-Id"] != made.headers["X-Request-Id"]
        server.stop()
        text = server.log()

    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            pytest.fail(f"line {n} of the log is not JSON: {raw!r}")
        assert isinstance(lines[-1], dict)
        assert {"time", "level", "logger", "message"} <= lines[-1].keys(), raw
    assert any(line["message"].startswith("pdfprompt serve listening") for line in lines)

    # The worker's lines about the job, the one saying it succeeded among them.
    worker_lines = [
        line
        for line in lines
        if line.get("job_id") == job_id and line["logger"].startswith("pdfprompt.queue")
    ]
    assert any(" succeeded in " in line["message"] for line in worker_lines), worker_lines
    for line in worker_lines:
        assert line["user_id"] and line["worker_id"], line
        assert line["attempt"] == 1 and line["request_id"] == REQUEST_ID, line
        assert line["stage"] in ("generate", "render", "finish", "store", "record"), line

    # The API's access line for the submission carries the same request id.
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    submitted = [line for line in access if line.get("path") == "/v1/jobs"]
    assert [(s["method"], s["status"], s["request_id"]) for s in submitted] == [
        ("POST", 202, REQUEST_ID)
    ]
    assert all(len(str(line.get("request_id", ""))) > 0 for line in access)

"""Prompt jobs end to end: `pdfprompt serve` talking to `pdfprompt dev fake-llm` over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import read_sse, wait_final
from tests.support.llm import SECRET, control, fake_llm, llm_env
from tests.support.processes import Process, create_key, service_env, start_server
from tests.support.prompts import corpus, fenced
from tests.support.render import pdf_text


@pytest.fixture(scope="module")
def llm_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str, Path]]:
    """A fake LLM process and `pdfprompt serve` (SQLite) configured to use it."""
    tmp = tmp_path_factory.mktemp("prompt")
    with fake_llm(tmp, "--stream", "--chunk-ms", "5") as fake_url:
        env = service_env(
            tmp / "data",
            f"sqlite:///{tmp / 'pdfprompt.sqlite3'}",
            **llm_env(fake_url),
            PDFPROMPT_LOG_LEVEL="debug",
        )
        server = start_server("serve", env, tmp / "serve.log")
        try:
            yield server, fake_url, tmp
        finally:
            server.stop()


def test_a_prompt_is_written_by_the_model_with_progress(
    llm_service: tuple[Process, str, Path],
) -> None:
    server, fake_url, tmp = llm_service
    control(fake_url, reset=True, behaviours={"model:fake-large": "500"}, chunk_ms=40)
    env = service_env(tmp / "data", f"sqlite:///{tmp / 'pdfprompt.sqlite3'}")
    key = create_key(env, "writer@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        body = {
            "type": "prompt",
            "input": "Invoice for ACME Corp\nThree days of consulting in March",
            "options": {"tone": "formal", "document_kind": "invoice"},
        }
        job = c.post("/v1/jobs", json=body).json()
        events = read_sse(c, f"/v1/jobs/{job['id']}/events")
        done, _ = wait_final(c, job["id"])
        assert done["status"] == "succeeded", done
        assert done["generator"] == "llm"
        text = pdf_text(c.get(f"/v1/jobs/{job['id']}/pdf").content)
        assert "Invoice for ACME Corp" in text and "Three days of consulting" in text
    generating = [e["progress"] for _, e in events if e.get("stage") == "generating"]
    assert len(set(generating)) >= 2 and generating == sorted(generating)  # moved while streaming
    calls = httpx.get(f"{fake_url}/_calls").json()
    assert [c["model"] for c in calls] == ["fake-large", "fake-small"]  # fell back once
    asked = calls[-1]
    assert asked["behaviour"] == "answer"


def test_all_keys_cooling_requeues_until_the_key_is_free(
    llm_service: tuple[Process, str, Path],
) -> None:
    server, fake_url, tmp = llm_service
    control(fake_url, reset=True, behaviours={SECRET: "429:3"}, chunk_ms=0)
    env = service_env(tmp / "data", f"sqlite:///{tmp / 'pdfprompt.sqlite3'}")
    key = create_key(env, "cooling@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        job = c.post("/v1/jobs", json={"type": "prompt", "input": "A short note"}).json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = c.get(f"/v1/jobs/{job['id']}").json()
            if seen["error"] is not None:
                break
            time.sleep(0.05)
        # Back in the queue, waiting for the key, without using up an attempt.
        assert seen["status"] == "queued" and seen["error"]["code"] == "llm_keys_cooling"
        assert seen["attempts"] == 0
        control(fake_url, behaviours={SECRET: "answer"})
        started = time.monotonic()
        done, _ = wait_final(c, job["id"], timeout_s=180)
        assert done["status"] == "succeeded" and done["attempts"] == 1
        assert time.monotonic() - started > 1.5  # it waited for the key's Retry-After
    log = (tmp / "serve.log").read_text(errors="replace")
    assert "key 1" in log and SECRET not in log and SECRET[-8:] not in log


def test_a_long_prompt_is_refused(llm_service: tuple[Process, str, Path]) -> None:
    server, _, tmp = llm_service
    env = service_env(tmp / "data", f"sqlite:///{tmp / 'pdfprompt.sqlite3'}")
    key = create_key(env, "long@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        r = c.post("/v1/jobs", json={"type": "prompt", "input": "x" * 20_001})
        assert r.status_code == 422 and r.json()["code"] == "invalid_input"
        assert "20001 characters" in r.json()["detail"]
        r = c.post("/v1/jobs", json={"type": "prompt", "input": "x", "options": {"tone": "rude"}})
        assert r.status_code == 422 and r.json()["code"] == "invalid_input"


def test_key_states_are_reported_without_the_key(llm_service: tuple[Process, str, Path]) -> None:
    server, _, _ = llm_service
    ready = httpx.get(f"{server.base_url}/readyz").json()
    assert ready["checks"]["llm"].startswith("ok: key 1 ")
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert 'pdfprompt_llm_keys{state="ok"}' in metrics
    assert "pdfprompt_llm_calls_total{" in metrics
    assert SECRET not in metrics and SECRET not in str(ready)


def test_revise_edits_the_previous_html(llm_service: tuple[Process, str, Path]) -> None:
    server, fake_url, tmp = llm_service
    control(fake_url, reset=True, behaviours={}, chunk_ms=0)
    env = service_env(tmp / "data", f"sqlite:///{tmp / 'pdfprompt.sqlite3'}")
    key = create_key(env, "reviser@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        first = c.post(
            "/v1/jobs",
            json={
                "type": "prompt",
                "input": "Meeting notes\nBudget approved",
                "options": {"title": "Notes"},
            },
        ).json()
        first, _ = wait_final(c, first["id"])
        assert first["status"] == "succeeded"
        revised = c.post(f"/v1/jobs/{first['id']}/revise", json={"instructions": "Add next steps"})
        assert revised.status_code == 202, revised.text
        assert revised.json()["parent_id"] == first["id"]
        done, _ = wait_final(c, revised.json()["id"])
        assert done["status"] == "succeeded" and done["generator"] == "llm"
        assert done["parent_id"] == first["id"] and done["options"]["title"] == "Notes"
        text = pdf_text(c.get(f"/v1/jobs/{done['id']}/pdf").content)
        assert "Budget approved" in text and "Add next steps" in text  # an edit, not a rewrite
        # The model got the previous document itself.
        asked = httpx.get(f"{fake_url}/_calls").json()[-1]["prompt"]
        assert "```html" in asked and "Budget approved" in asked and "Add next steps" in asked

        # Only a job that succeeded can be revised; another user's job is not found.
        other = create_key(env, "not-the-owner@example.com")
        r = c.post(
            f"/v1/jobs/{first['id']}/revise",
            json={"instructions": "x"},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert r.status_code == 404
        r = c.post(f"/v1/jobs/{first['id']}/revise", json={"instructions": "  "})
        assert r.status_code == 422 and r.json()["code"] == "invalid_input"
        # A cancelled job: the model takes seconds to answer, so it is cancelled unended.
        control(fake_url, latency_ms=3000)
        try:
            queued = c.post("/v1/jobs", json={"type": "prompt", "input": "later"}).json()
            canceled = c.post(f"/v1/jobs/{queued['id']}/cancel")
        finally:
            control(fake_url, latency_ms=0)
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        r = c.post(f"/v1/jobs/{queued['id']}/revise", json={"instructions": "x"})
        assert r.status_code == 409 and r.json()["code"] == "conflict"
        # Deleting a revised job removes its kept HTML too.
        assert c.delete(f"/v1/jobs/{first['id']}").status_code == 204
    kept = list((tmp / "data" / "files").rglob("*.html"))
    assert all(first["id"] not in str(p) for p in kept)


def test_a_print_with_findings_is_repaired_over_http(
    llm_service: tuple[Process, str, Path],
) -> None:
    """The model's answer prints with a 2000px table; the repair call (scripted with the
    corrected answer) fixes it: the job's events show the `repairing` stage, its
    warnings are empty, its PDF is the corrected one and the usage history has both calls.
    `repair` takes only a boolean."""
    server, fake_url, tmp = llm_service
    wide = next(a for a in corpus() if a.name == "defect-wide-table")
    assert wide.repaired is not None
    script = [{"answer": fenced(wide.html)}, {"answer": fenced(wide.repaired)}]
    # Each answer takes 300 ms: the stream of events sees the stage of the repair call.
    control(fake_url, reset=True, behaviours={}, chunk_ms=0, latency_ms=300, script=script)
    env = service_env(tmp / "data", f"sqlite:///{tmp / 'pdfprompt.sqlite3'}")
    key = create_key(env, "repair@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        refused = c.post(
            "/v1/jobs", json={"type": "prompt", "input": "x", "options": {"repair": "no"}}
        )
        assert refused.status_code == 422 and refused.json()["field"] == "options.repair"
        job = c.post("/v1/jobs", json={"type": "prompt", "input": "Revenue by line"}).json()
        events = read_sse(c, f"/v1/jobs/{job['id']}/events")
        done, _ = wait_final(c, job["id"])
        control(fake_url, latency_ms=0)
        assert done["status"] == "succeeded" and done["warnings"] == [], done
        pdf = c.get(f"/v1/jobs/{job['id']}/pdf").content
        history = c.get("/v1/usage/history").json()["items"]
    stages = [e.get("stage") for _, e in events]
    assert "generating" in stages and stages.index("generating") < stages.index("repairing")
    calls = [h for h in history if h["kind"] == "llm_call" and h["job_id"] == job["id"]]
    assert len(calls) == 2 and all(h["generator"] == "fake-large" for h in calls)
    asked = httpx.get(f"{fake_url}/_calls").json()
    assert len(asked) == 2 and "[overflow]" in asked[1]["prompt"]
    assert "Revenue by product line" in pdf_text(pdf)

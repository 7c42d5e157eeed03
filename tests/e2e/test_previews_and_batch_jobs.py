"""End to end over HTTP on SQLite and PostgreSQL: a template preview is invisible (no webhook
delivery, no usage, in no list while it waits for a worker, and deleted by a worker's
maintenance pass when the API that waited for it died), and a batch's job shows its batch
and row in `GET /v1/jobs/{id}`, `GET /v1/jobs`, its webhook event and the OpenAPI
document."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Executable, select, update

from pdfprompt.db import create_engine, jobs
from pdfprompt.settings import Settings
from tests.support.jobs import wait_final
from tests.support.processes import (
    Process,
    cli,
    create_key,
    new_database,
    service_env,
    serving,
    start_server,
)
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

ALLOW = {
    "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE": "true",
    "PDFPROMPT_WEBHOOK_RETRY_BASE_S": "0.2",
    "PDFPROMPT_WEBHOOK_TIMEOUT_S": "2",
    "PDFPROMPT_WEBHOOK_POLL_MS": "100",
}
ENDED = ["job.succeeded", "job.failed", "job.canceled"]

TEMPLATE: dict[str, Any] = {
    "name": "note",
    "engine": "html",
    "body": "<!DOCTYPE html><html><body><h1>Note {{ n }}</h1></body></html>",
    "schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
    "sample_data": {"n": 1},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp(f"loose-{request.param}")
    with serving(request, tmp, request.param, **ALLOW) as s:
        yield s


def _client(base_url: str, env: dict[str, str], email: str) -> httpx.Client:
    key = create_key(env, email)
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _deliveries(c: httpx.Client, hook_id: str, n: int) -> list[dict[str, Any]]:
    """The webhook's deliveries once `n` of them have ended (newest first)."""

    def ended() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = c.get(f"/v1/webhooks/{hook_id}/deliveries").json()["items"]
        done = [d for d in items if d["status"] != "pending"]
        return items if len(done) >= n else None

    return wait_until(ended, 30, f"{n} deliveries of {hook_id} ended")


def test_a_preview_makes_no_webhook_delivery_and_uses_nothing(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    with _client(server.base_url, env, "preview-hook@example.com") as c, Receiver() as r:
        hook = c.post("/v1/webhooks", json={"url": r.url, "events": ENDED}).json()
        template = c.post("/v1/templates", json=TEMPLATE).json()
        preview = c.post(f"/v1/templates/{template['id']}/preview", json={"data": {"n": 7}})
        assert preview.status_code == 200 and preview.content.startswith(b"%PDF")
        made = c.post(
            "/v1/jobs", json={"type": "template", "template": template["id"], "data": {"n": 8}}
        )
        job, _ = wait_final(c, made.json()["id"])
        assert job["status"] == "succeeded"
        # The preview ended before the job did, and a delivery is written in the transaction
        # that ends a job: by the time the job's delivery exists, a preview's would too.
        [delivery] = _deliveries(c, hook["id"], 1)
        assert delivery["event"] == "job.succeeded"
        r.wait_for(1)
        assert [h.event["data"]["job"]["id"] for h in r.hits] == [job["id"]]
        assert c.get("/v1/usage").json()["pdfs"]["used"] == 1
        history = c.get("/v1/usage/history").json()["items"]
        assert [e.get("job_id") for e in history if e.get("kind") == "job"] == [job["id"]]
        assert [j["id"] for j in c.get("/v1/jobs").json()["items"]] == [job["id"]]


@pytest.fixture(params=["sqlite", "postgresql"])
def api_alone(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], str]]:
    """A migrated database and the environment to run `pdfprompt api` and workers on it."""
    with new_database(request, tmp_path, request.param) as url:
        env = service_env(tmp_path / "data", url)
        cli(env, "db", "upgrade")
        yield env, url


def _run(env: dict[str, str], statement: Executable) -> list[Any]:
    """The rows of one statement run on the service's database, committed."""

    async def run() -> list[Any]:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.begin() as conn:
                done = await conn.execute(statement)
                return list(done.all()) if done.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_a_waiting_preview_is_listed_nowhere_and_is_deleted_when_its_api_died(
    api_alone: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, _ = api_alone
    api = start_server("api", env, tmp_path / "api.log")  # and no worker yet
    try:
        with _client(api.base_url, env, "left@example.com") as c:
            template = c.post("/v1/templates", json=TEMPLATE).json()
            answers: list[int | str] = []

            def ask() -> None:
                try:
                    answers.append(
                        c.post(f"/v1/templates/{template['id']}/preview", json={}).status_code
                    )
                except httpx.HTTPError as exc:
                    answers.append(type(exc).__name__)

            waiting = threading.Thread(target=ask)
            waiting.start()

            def queued_preview() -> str | None:
                found = _run(env, select(jobs.c.id).where(jobs.c.preview.is_(True)))
                return str(found[0].id) if found else None

            preview_id = wait_until(queued_preview, 30, "the preview's job is queued")
            assert c.get("/v1/jobs").json()["items"] == []
            assert c.get("/v1/jobs", params={"status": "queued"}).json()["items"] == []
            pdfs = c.get("/v1/usage").json()["pdfs"]
            assert (pdfs["used"], pdfs["reserved"]) == (0, 0)
            api.stop(signal.SIGKILL)  # the API dies waiting: nothing deletes the job
            waiting.join(60)
            assert answers and answers[0] != 200
        _run(  # it has been waiting past the maintenance pass's limit
            env,
            update(jobs)
            .where(jobs.c.id == preview_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=10)),
        )
        worker = Process(["worker"], env, tmp_path / "worker.log").start()
        try:

            def gone() -> bool:
                return not _run(env, select(jobs.c.id).where(jobs.c.id == preview_id))

            wait_until(gone, 180, "the left-behind preview is deleted")
        finally:
            worker.stop()
    finally:
        with contextlib.suppress(Exception):
            api.stop()


def test_a_batch_job_shows_its_batch_everywhere_a_job_is_shown(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    with _client(server.base_url, env, "batch-shape@example.com") as c, Receiver() as r:
        hook = c.post("/v1/webhooks", json={"url": r.url, "events": ["job.succeeded"]}).json()
        template = c.post("/v1/templates", json=TEMPLATE).json()
        made = c.post(
            "/v1/batches", json={"template": template["id"], "items": [{"n": 1}, {"n": 2}]}
        )
        assert made.status_code == 202, made.text
        batch = made.json()
        listed = c.get(f"/v1/batches/{batch['id']}/jobs").json()["items"]
        assert [j["batch"] for j in listed] == [
            {"id": batch["id"], "row": 0},
            {"id": batch["id"], "row": 1},
        ]
        for row, item in enumerate(listed):
            job, _ = wait_final(c, item["id"])
            assert job["status"] == "succeeded"
            assert job["batch"] == {"id": batch["id"], "row": row}
            assert job["template"] == {"id": template["id"], "version": 1}
        alone = c.post("/v1/jobs", json={"type": "html", "input": "<p>alone</p>"}).json()
        assert wait_final(c, alone["id"])[0]["batch"] is None
        shown = {j["id"]: j["batch"] for j in c.get("/v1/jobs").json()["items"]}
        assert shown == {
            listed[0]["id"]: {"id": batch["id"], "row": 0},
            listed[1]["id"]: {"id": batch["id"], "row": 1},
            alone["id"]: None,
        }
        _deliveries(c, hook["id"], 3)
        r.wait_for(3)
        sent = {h.event["data"]["job"]["id"]: h.event["data"]["job"] for h in r.hits}
        assert sent[listed[1]["id"]]["batch"] == {"id": batch["id"], "row": 1}
        assert sent[listed[1]["id"]] == c.get(f"/v1/jobs/{listed[1]['id']}").json()
        assert sent[alone["id"]]["batch"] is None
    document = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    job_out = document["components"]["schemas"]["JobOut"]["properties"]
    assert "template" in job_out and "batch" in job_out
    assert document["components"]["schemas"]["BatchRefOut"]["required"] == ["id", "row"]

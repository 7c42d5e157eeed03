"""What webhook events say: a job event's `data` is, byte for byte, the job as
`GET /v1/jobs/{id}` answers it (the API's schema), though the webhooks room builds it
without the web framework; the body's envelope; and what the composer looks up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pdfprompt.api.schemas import JobOut
from pdfprompt.domain import (
    FileInfo,
    Generator,
    Job,
    JobError,
    JobStage,
    JobStatus,
    JobType,
    JobWarning,
    NotFoundError,
)
from pdfprompt.webhooks import ClaimedDelivery, event_body, event_composer, job_data

BASE = "https://pdf.example.com/"
T0 = datetime(2026, 11, 3, 9, 15, 0, tzinfo=UTC)


def _job(**changes: Any) -> Job:
    values: dict[str, Any] = {
        "id": "01JOB",
        "user_id": "01USER",
        "type": JobType.PROMPT,
        "input": "a letter",
        "options": {"format": "A4", "margin": {"top": "1in"}, "scale": 1.0, "tagged": True},
        "status": JobStatus.QUEUED,
        "stage": JobStage.QUEUED,
        "progress": 0.0,
        "attempts": 0,
        "max_attempts": 3,
        "priority": 0,
        "created_at": T0,
    }
    values.update(changes)
    return Job(**values)


JOBS = {
    "queued": _job(),
    "running, naive times, an int progress": _job(
        status=JobStatus.RUNNING,
        stage=JobStage.RENDERING,
        progress=1,
        attempts=1,
        created_at=datetime(2026, 11, 3, 9, 15, 0, 120000),
        started_at=datetime(2026, 11, 3, 9, 15, 1),
        updated_at=datetime(2026, 11, 3, 9, 15, 2, 1),
        generator=Generator.MARKDOWN_FALLBACK,
    ),
    "succeeded with a file and warnings": _job(
        status=JobStatus.SUCCEEDED,
        stage=JobStage.DONE,
        progress=0.999999,
        attempts=2,
        priority=5,
        generator=Generator.LLM,
        started_at=T0 + timedelta(seconds=1, microseconds=123456),
        finished_at=T0 + timedelta(seconds=9),
        updated_at=T0 + timedelta(seconds=9),
        parent_id="01PARENT",
        file=FileInfo(
            "01FILE",
            12345,
            3,
            "lettre — été.pdf",
            "k/1",
            warnings=(JobWarning("resource_refused", "not loaded: https://x.example/a.png"),),
        ),
    ),
    "failed, in another time zone": _job(
        status=JobStatus.FAILED,
        stage=JobStage.DONE,
        progress=0.33333,
        error=JobError("render_timeout", "the render took longer than 30 s"),
        finished_at=datetime(2026, 11, 3, 11, 0, tzinfo=timezone(timedelta(hours=2))),
        options={},
    ),
    "encrypted: its passwords are never shown": _job(
        options={
            "encrypt": {
                "user_password": "open sesame",
                "owner_password": "owner secret",
                "permissions": {"print": False},
            },
            "watermark": {"text": "DRAFT"},
        },
    ),
}


@pytest.mark.parametrize("job", JOBS.values(), ids=JOBS.keys())
def test_a_job_event_carries_the_job_as_the_api_shows_it(job: Job) -> None:
    api = JobOut.of(job, BASE).model_dump(mode="json")
    event = job_data(job, BASE)
    assert json.dumps(event, ensure_ascii=False) == json.dumps(api, ensure_ascii=False)
    shown = json.dumps(event)
    assert "open sesame" not in shown and "owner secret" not in shown
    if "encrypt" in job.options:
        assert event["options"]["encrypt"] == {
            "user_password": "********",
            "owner_password": "********",
            "permissions": {"print": False},
        }
        assert job.options["encrypt"]["user_password"] == "open sesame"  # kept for the worker


def test_the_body_is_the_event_in_compact_json() -> None:
    claimed = ClaimedDelivery(
        id=42,
        webhook_id="01HOOK",
        user_id="01USER",
        event="job.succeeded",
        subject="01JOB",
        payload=None,
        attempt=1,
        age_s=0.0,
        created_at=T0,
        url="https://hooks.example.com/in",
        secret="whsec_x",
    )
    body = event_body(claimed, {"job": {"id": "01JOB", "note": "été"}})
    assert body == (
        '{"id":"42","type":"job.succeeded","created_at":"2026-11-03T09:15:00Z",'
        '"data":{"job":{"id":"01JOB","note":"été"}}}'
    )


async def test_the_composer_looks_up_the_job_or_the_usage() -> None:
    asked: list[tuple[str, ...]] = []
    job = JOBS["succeeded with a file and warnings"]

    async def find(job_id: str, user_id: str) -> Job:
        asked.append((job_id, user_id))
        if job_id != job.id:
            raise NotFoundError(f"job {job_id} not found")
        return job

    async def usage(user_id: str) -> dict[str, Any]:
        asked.append((user_id,))
        return {"pdfs": {"used": 4, "reserved": 0, "limit": 5}}

    compose = event_composer(find, usage, BASE)
    assert await compose("job.succeeded", "01USER", job.id) == {"job": job_data(job, BASE)}
    assert await compose("job.canceled", "01USER", "01GONE") == {
        "job": {"id": "01GONE", "status": "canceled", "deleted": True}
    }
    assert await compose("quota.warning", "01USER", "2026-11") == {
        "period": "2026-11",
        "usage": {"pdfs": {"used": 4, "reserved": 0, "limit": 5}},
    }
    assert asked == [(job.id, "01USER"), ("01GONE", "01USER"), ("01USER",)]

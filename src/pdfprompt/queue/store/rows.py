"""Rows and records: job and file rows as the domain's types, and the rows a new job or a
finished one writes. Warnings are kept as JSON text; rows read on the driver (db/driver.py)
come back undecoded and are decoded here as SQLAlchemy would decode them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row, RowMapping

from pdfprompt.db import DriverStatement, Timestamp, jobs
from pdfprompt.domain import (
    UNTITLED,
    WARN_AT,
    FileInfo,
    Generator,
    Job,
    JobError,
    JobStage,
    JobStatus,
    JobType,
    JobWarning,
    current_request_id,
    document_title,
    new_id,
    search_text,
)
from pdfprompt.queue.store.records import DocumentSummary, Finished, NewJob

_TIMES = frozenset(c.name for c in jobs.c if c.type is Timestamp)


def file_from_row(row: Row[Any]) -> FileInfo:
    return file_from_mapping(row._mapping)


def file_from_mapping(m: Mapping[str, Any] | RowMapping) -> FileInfo:
    """A file read with `statements.FILE_COLUMNS` (labelled `f_…`)."""
    return FileInfo(
        id=m["f_id"],
        size_bytes=m["f_size_bytes"],
        pages=m["f_pages"],
        filename=m["f_filename"],
        storage_key=m["f_storage_key"],
        content_type=m["f_content_type"],
        html_key=m.get("f_html_key"),
        warnings=warnings_of(m.get("f_warnings")),
        thumbnail_key=m.get("f_thumbnail_key"),
    )


def job_from_row(row: Row[Any], **extra: Any) -> Job:
    return job_from_mapping(row._mapping, extra)


def job_from_mapping(m: Mapping[str, Any] | RowMapping, extra: dict[str, Any] | None = None) -> Job:
    """A job row (with its file's columns when it has one); `extra` goes to `Job.extra`."""
    file = file_from_mapping(m) if m.get("f_id") is not None else None
    return Job(
        id=m["id"],
        user_id=m["user_id"],
        type=JobType(m["type"]),
        input=m["input"],
        options=dict(m["options"] or {}),
        status=JobStatus(m["status"]),
        stage=JobStage(m["stage"]),
        progress=float(m["progress"]),
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        priority=m["priority"],
        created_at=m["created_at"],
        error=JobError(m["error_code"], m["error_message"] or "") if m["error_code"] else None,
        generator=Generator(m["generator"]) if m["generator"] else None,
        idempotency_key=m["idempotency_key"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        run_after=m["run_after"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        updated_at=m["updated_at"],
        file=file,
        parent_id=m.get("parent_id"),
        plan=m.get("plan"),
        batch_id=m.get("batch_id"),
        batch_row=m.get("batch_row"),
        request_id=m.get("request_id"),
        extra=extra or {},
    )


def summary_from_mapping(m: Mapping[str, Any]) -> DocumentSummary:
    """A line of the history, read with `statements.documents_page` (and `decoded`)."""
    return DocumentSummary(
        id=m["id"],
        type=JobType(m["type"]),
        status=JobStatus(m["status"]),
        title=m["title"] or UNTITLED,
        created_at=m["created_at"],
        pages=m["f_pages"],
        has_thumbnail=m["f_thumbnail_key"] is not None,
    )


def decoded(record: Mapping[str, Any]) -> dict[str, Any]:
    """A job row read through the driver (db/driver.py), as SQLAlchemy would give it: JSON
    decoded, and on SQLite times parsed from their text."""
    row = dict(record)
    if isinstance(row.get("options"), str):
        row["options"] = json.loads(row["options"])
    for name in _TIMES:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return row


def job_values(new: NewJob) -> dict[str, Any]:
    """The row a submission inserts (its id made here), by column name."""
    return {
        "id": new_id(),
        "user_id": new.user_id,
        "type": new.type.value,
        "input": new.input,
        "options": new.options,
        "status": JobStatus.QUEUED.value,
        "stage": JobStage.QUEUED.value,
        "max_attempts": new.max_attempts,
        "priority": new.priority,
        "idempotency_key": new.idempotency_key,
        "parent_id": new.parent_id,
        "plan": new.plan,
        "quota_period": new.quota_period,
        "preview": new.preview,
        "title": document_title(new.type, new.input, new.options),
        "search_text": search_text(new.type, new.input, new.options),
        # The request being answered (the API's `X-Request-Id`), for the worker's log lines.
        "request_id": current_request_id(),
    }


def insert_args(statement: DriverStatement, values: dict[str, Any]) -> list[Any]:
    """The driver's arguments for `statements.insert_job`'s values (`new_<column>`)."""
    given = {f"new_{k}": v for k, v in values.items()}
    given["new_options"] = json.dumps(values["options"])  # the driver gets JSON as text
    return statement.args(**given)


def file_rows(done: Sequence[Finished]) -> list[dict[str, Any]]:
    """New `files` rows for finished jobs (ids made here)."""
    return [
        {
            "id": new_id(),
            "user_id": d.user_id,
            "job_id": d.job_id,
            "storage_key": d.stored.storage_key,
            "content_type": d.stored.content_type,
            "filename": d.stored.filename,
            "size_bytes": d.stored.size_bytes,
            "pages": d.stored.pages,
            "sha256": d.stored.sha256,
            "render_key": d.stored.render_key,
            "html_key": d.stored.html_key,
            "warnings": warnings_json(d.stored.warnings),
            "thumbnail_key": d.stored.thumbnail_key,
        }
        for d in done
    ]


def warnings_json(warnings: Sequence[JobWarning]) -> str | None:
    """Warnings as the files table keeps them: JSON text, NULL when there are none."""
    if not warnings:
        return None
    return json.dumps([{"code": w.code, "message": w.message} for w in warnings])


def warnings_of(text: str | None) -> tuple[JobWarning, ...]:
    return tuple(JobWarning(w["code"], w["message"]) for w in json.loads(text)) if text else ()


def crossed_warning(reserved_row: Any, limit: int | None) -> bool:
    """Whether a reservation (`statements.reserve_quota`'s row: reserved, used, warned_at)
    reached the warning share of the limit in a period not yet warned."""
    if limit is None or reserved_row is None or reserved_row[2] is not None:
        return False
    return bool(reserved_row[0] + reserved_row[1] >= WARN_AT * limit)

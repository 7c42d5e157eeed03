"""What the server answers, as typed values. Each keeps the whole JSON object in `raw`, so a
field the server adds later is readable before this module knows its name; parsing is
lenient about what is missing (a newer server, an older one) and strict about nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
FINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "canceled"})
FINAL_BATCH_STATUSES = frozenset({"completed", "canceled"})


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class JobWarning:
    """Something a job that succeeded did not do as its document asked (`resource_refused`:
    an address it did not load). Not named `Warning`, which would hide Python's own."""

    code: str
    message: str


@dataclass(frozen=True)
class FileInfo:
    id: str
    size_bytes: int
    pages: int
    filename: str
    url: str
    content_type: str = "application/pdf"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> FileInfo:
        return cls(
            id=_str(data.get("id")),
            size_bytes=_int(data.get("size_bytes")),
            pages=_int(data.get("pages")),
            filename=_str(data.get("filename")),
            url=_str(data.get("url")),
            content_type=_str(data.get("content_type")) or "application/pdf",
            raw=data,
        )


@dataclass(frozen=True)
class TemplateRef:
    id: str
    version: int


@dataclass(frozen=True)
class BatchRef:
    id: str
    row: int


@dataclass(frozen=True)
class Job:
    id: str
    type: str
    status: str
    stage: str
    progress: float
    attempts: int
    error: JobError | None
    warnings: list[JobWarning]
    file: FileInfo | None
    options: dict[str, Any]
    parent_id: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    template: TemplateRef | None = None
    batch: BatchRef | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Whether the job has a final status (succeeded, failed or canceled)."""
        return self.status in FINAL_JOB_STATUSES

    @classmethod
    def of(cls, data: dict[str, Any]) -> Job:
        error = _dict(data.get("error"))
        file = data.get("file")
        template = _dict(data.get("template"))
        batch = _dict(data.get("batch"))
        return cls(
            id=_str(data.get("id")),
            type=_str(data.get("type")),
            status=_str(data.get("status")),
            stage=_str(data.get("stage")),
            progress=_float(data.get("progress")),
            attempts=_int(data.get("attempts")),
            error=JobError(_str(error.get("code")), _str(error.get("message"))) if error else None,
            warnings=[
                JobWarning(_str(w.get("code")), _str(w.get("message")))
                for w in _list(data.get("warnings"))
                if isinstance(w, dict)
            ],
            file=FileInfo.of(file) if isinstance(file, dict) else None,
            options=_dict(data.get("options")),
            parent_id=_opt_str(data.get("parent_id")),
            created_at=_when(data.get("created_at")),
            started_at=_when(data.get("started_at")),
            finished_at=_when(data.get("finished_at")),
            template=(
                TemplateRef(_str(template.get("id")), _int(template.get("version")))
                if template
                else None
            ),
            batch=BatchRef(_str(batch.get("id")), _int(batch.get("row"))) if batch else None,
            raw=data,
        )


@dataclass(frozen=True)
class Usage:
    plan: dict[str, Any]
    period_start: datetime | None
    period_end: datetime | None
    pdfs_used: int
    pdfs_reserved: int
    pdfs_limit: int | None
    storage_used_bytes: int
    storage_limit_bytes: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Usage:
        period, pdfs, storage = (_dict(data.get(k)) for k in ("period", "pdfs", "storage_bytes"))
        return cls(
            plan=_dict(data.get("plan")),
            period_start=_when(period.get("start")),
            period_end=_when(period.get("end")),
            pdfs_used=_int(pdfs.get("used")),
            pdfs_reserved=_int(pdfs.get("reserved")),
            pdfs_limit=_opt_int(pdfs.get("limit")),
            storage_used_bytes=_int(storage.get("used")),
            storage_limit_bytes=_opt_int(storage.get("limit")),
            raw=data,
        )


@dataclass(frozen=True)
class Share:
    id: str
    url: str | None  # the whole link: only in the answer that created it
    expires_at: datetime | None
    max_downloads: int | None
    downloads: int
    revoked_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Share:
        return cls(
            id=_str(data.get("id")),
            url=_opt_str(data.get("url")),
            expires_at=_when(data.get("expires_at")),
            max_downloads=_opt_int(data.get("max_downloads")),
            downloads=_int(data.get("downloads")),
            revoked_at=_when(data.get("revoked_at")),
            raw=data,
        )


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime | None
    expires_at: datetime | None
    key: str | None  # the whole key: only in the answer that created it
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> ApiKey:
        return cls(
            id=_str(data.get("id")),
            name=_str(data.get("name")),
            prefix=_str(data.get("prefix")),
            scopes=[s for s in _list(data.get("scopes")) if isinstance(s, str)],
            created_at=_when(data.get("created_at")),
            expires_at=_when(data.get("expires_at")),
            key=_opt_str(data.get("key")),
            raw=data,
        )


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    secret: str | None  # only when created or rotated
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Webhook:
        return cls(
            id=_str(data.get("id")),
            url=_str(data.get("url")),
            events=[e for e in _list(data.get("events")) if isinstance(e, str)],
            description=_str(data.get("description")),
            enabled=data.get("enabled") is True,
            secret=_opt_str(data.get("secret")),
            raw=data,
        )


@dataclass(frozen=True)
class Asset:
    id: str
    name: str
    content_type: str
    kind: str
    size_bytes: int
    sha256: str
    created_at: datetime | None
    updated_at: datetime | None = None  # changes when `replace` puts new bytes under it
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Asset:
        return cls(
            id=_str(data.get("id")),
            name=_str(data.get("name")),
            content_type=_str(data.get("content_type")),
            kind=_str(data.get("kind")),
            size_bytes=_int(data.get("size_bytes")),
            sha256=_str(data.get("sha256")),
            created_at=_when(data.get("created_at")),
            updated_at=_when(data.get("updated_at")),
            raw=data,
        )


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    engine: str
    version: int
    body: str | None  # not in lists
    schema: dict[str, Any] | None
    sample_data: Any
    options: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None
    latest_version: int | None = None  # the newest (`version` is this answer's); not in lists
    version_created_at: datetime | None = None  # when `version` was made; not in lists
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Template:
        schema = data.get("schema")
        return cls(
            id=_str(data.get("id")),
            name=_str(data.get("name")),
            engine=_str(data.get("engine")),
            version=_int(data.get("version")),
            body=_opt_str(data.get("body")),
            schema=schema if isinstance(schema, dict) else None,
            sample_data=data.get("sample_data"),
            options=_dict(data.get("options")),
            created_at=_when(data.get("created_at")),
            updated_at=_when(data.get("updated_at")),
            latest_version=_opt_int(data.get("latest_version")),
            version_created_at=_when(data.get("version_created_at")),
            raw=data,
        )


@dataclass(frozen=True)
class TemplateVersion:
    version: int
    created_at: datetime | None

    @classmethod
    def of(cls, data: dict[str, Any]) -> TemplateVersion:
        return cls(_int(data.get("version")), _when(data.get("created_at")))


@dataclass(frozen=True)
class BatchCounts:
    queued: int
    running: int
    succeeded: int
    failed: int
    canceled: int


@dataclass(frozen=True)
class Batch:
    id: str
    status: str
    total: int
    counts: BatchCounts
    progress: float
    template: TemplateRef | None
    created_at: datetime | None
    finished_at: datetime | None
    filename: str = ""  # the archive's name pattern, e.g. `invoice-{number}.pdf`
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Whether the batch has a final status (completed or canceled)."""
        return self.status in FINAL_BATCH_STATUSES

    @property
    def done(self) -> int:
        """Jobs of the batch with a final status."""
        return self.counts.succeeded + self.counts.failed + self.counts.canceled

    @classmethod
    def of(cls, data: dict[str, Any]) -> Batch:
        counts = _dict(data.get("counts"))
        template = _dict(data.get("template"))
        return cls(
            id=_str(data.get("id")),
            status=_str(data.get("status")),
            total=_int(data.get("total")),
            counts=BatchCounts(
                queued=_int(counts.get("queued")),
                running=_int(counts.get("running")),
                succeeded=_int(counts.get("succeeded")),
                failed=_int(counts.get("failed")),
                canceled=_int(counts.get("canceled")),
            ),
            progress=_float(data.get("progress")),
            template=(
                TemplateRef(_str(template.get("id")), _int(template.get("version")))
                if template
                else None
            ),
            created_at=_when(data.get("created_at")),
            finished_at=_when(data.get("finished_at")),
            filename=_str(data.get("filename")),
            raw=data,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first; `next_cursor` asks for the next (None: the last)."""

    items: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, data: dict[str, Any], item: Callable[[dict[str, Any]], T]) -> Page[T]:
        cursor = data.get("next_cursor")
        return cls(
            items=[item(i) for i in _list(data.get("items")) if isinstance(i, dict)],
            next_cursor=cursor if isinstance(cursor, str) and cursor else None,
        )

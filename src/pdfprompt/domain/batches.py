"""Batches: many jobs submitted together, what their counts say, and how their PDFs are named
in the batch's archive. No I/O."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pdfprompt.domain.errors import DataInvalidError, InvalidInputError
from pdfprompt.domain.ids import new_id
from pdfprompt.domain.jobs import JobType

BATCH_ID_PATTERN = r"^bat_[0-9a-f-]{1,36}$"
DEFAULT_FILENAME = "{row}.pdf"
MAX_FILENAME_PATTERN_CHARS = 200
MAX_ARCHIVE_NAME_CHARS = 120  # an archive entry's name, without its `.pdf`
MAX_LISTED_ROW_ERRORS = 100

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})\}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|]+")


def new_batch_id() -> str:
    return f"bat_{new_id()}"


class BatchState(enum.StrEnum):
    """What a batch row records; its shown status also reads its jobs' counts."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELED = "canceled"


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class BatchCounts:
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0

    @property
    def final(self) -> int:
        return self.succeeded + self.failed + self.canceled

    def as_dict(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "running": self.running,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "canceled": self.canceled,
        }


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch row with its jobs' counts by status (`last_finished_at`: when its last job
    ended, once every job has)."""

    id: str
    user_id: str
    total: int
    state: BatchState
    filename: str
    created_at: datetime
    counts: BatchCounts
    template_id: str | None = None
    template_version: int | None = None
    finished_at: datetime | None = None
    canceled_at: datetime | None = None
    last_finished_at: datetime | None = None

    @property
    def status(self) -> BatchStatus:
        if self.state is BatchState.CANCELED:
            return BatchStatus.CANCELED
        if self.state is BatchState.COMPLETED or self.counts.final >= self.total:
            return BatchStatus.COMPLETED
        if self.counts.queued >= self.total:
            return BatchStatus.QUEUED
        return BatchStatus.RUNNING

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0 else round(self.counts.final / self.total, 4)

    @property
    def ended_at(self) -> datetime | None:
        """When it ended: marked completed or canceled, or its last job's end once every
        job has ended (before the completion pass marks it)."""
        if self.finished_at is not None:
            return self.finished_at
        if self.status is BatchStatus.COMPLETED:
            return self.last_finished_at
        return None


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class BatchRowsError(DataInvalidError):
    """Rows of a batch are invalid: nothing was queued. `errors` lists the first
    `MAX_LISTED_ROW_ERRORS`; `total` counts them all."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        first = errors[0]
        rows = len({e.row for e in errors})
        more = f" (and {len(errors) - 1} more problems in {rows} rows)" if len(errors) > 1 else ""
        super().__init__(
            f"{first.field}: {first.message}{more}",
            field=first.field,
            errors=[e.as_dict() for e in errors[:MAX_LISTED_ROW_ERRORS]],
            total=len(errors),
        )


def check_filename_pattern(pattern: str) -> str:
    """A batch's file name pattern within its length and without control characters."""
    if len(pattern) > MAX_FILENAME_PATTERN_CHARS:
        raise InvalidInputError(
            f"filename: {len(pattern)} characters; the limit is {MAX_FILENAME_PATTERN_CHARS}",
            field="filename",
        )
    if not pattern.strip() or any(unicodedata.category(c) == "Cc" for c in pattern):
        raise InvalidInputError(
            "filename: must be text without control characters", field="filename"
        )
    return pattern


def _lookup(fields: Mapping[str, Any], path: str) -> str:
    """The value at a dotted `path` of the row's fields, as text: only plain keys of plain
    mappings are followed (never attributes), and only text, numbers and booleans shown."""
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return ""


def fill_pattern(pattern: str, row: int, fields: Mapping[str, Any]) -> str:
    """`pattern` with `{row}` and `{name}` / `{a.b}` replaced by the row number and the row's
    fields (a tiny substitution: no format spec, no attribute or index access)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(row) if name == "row" else _lookup(fields, name)

    return _PLACEHOLDER.sub(value, pattern)


def safe_name(text: str, row: int) -> str:
    """A file name that is one plain path component: separators and control characters
    replaced, no leading dots (no `..`, no hidden files), capped in length, ending `.pdf`."""
    text = unicodedata.normalize("NFC", text)
    stem = text[:-4] if text.lower().endswith(".pdf") else text
    stem = _UNSAFE.sub("_", stem).strip(" ._")
    stem = stem.replace("..", "_")[:MAX_ARCHIVE_NAME_CHARS].strip(" ._")
    return f"{stem or row}.pdf"


def archive_names(pattern: str, rows: Iterable[tuple[int, Mapping[str, Any]]]) -> list[str]:
    """Each row's entry name in the archive, from `pattern`, safe and unique (a name taken
    by an earlier row gets `-<row>`, then a counter, before `.pdf`); compared without case,
    as some file systems do."""
    seen: set[str] = set()
    names = []
    for row, fields in rows:
        name = safe_name(fill_pattern(pattern, row, fields), row)
        if name.casefold() in seen:
            stem = name[:-4]
            name = f"{stem}-{row}.pdf"
            n = 2
            while name.casefold() in seen:
                name = f"{stem}-{row}-{n}.pdf"
                n += 1
        seen.add(name.casefold())
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class BatchJobSpec:
    """One row of a batch, checked and ready to queue: the job's type, input and options,
    and the fields its archive name may use."""

    type: JobType
    input: str
    options: dict[str, Any]
    fields: dict[str, Any] = field(default_factory=dict)

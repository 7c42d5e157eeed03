"""The PDF job types: `merge`, `split` and `pdf` work on PDFs a user already has (uploaded
assets and the files of their own jobs). What such a job keeps as its input (`PdfJobInput`:
the sources resolved at submission, and a split's ranges), the ranges of a split, the
limits a PDF is read within, and the errors a PDF brought by a user fails with (all
permanent: the same bytes fail the same way every time)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pdfprompt.domain.errors import InvalidInputError, PdfPromptError

PDF_CONTENT_TYPE = "application/pdf"
ZIP_CONTENT_TYPE = "application/zip"

MAX_SPLIT_PARTS = 200  # the most ranges one split may ask for
MAX_SOURCE_TITLE_CHARS = 200


class PdfMalformedError(PdfPromptError):
    """The bytes are not a PDF that can be read (damaged past repair, no pages)."""

    code = "pdf_malformed"


class PdfEncryptedError(PdfPromptError):
    """The PDF is encrypted; it is taken only without protection."""

    code = "pdf_encrypted"


class PdfTooComplexError(PdfPromptError):
    """Reading the PDF passed a limit: its objects, the bytes its streams decode to (a
    compressed stream that expands to gigabytes), the memory or the CPU time of the process
    reading it."""

    code = "pdf_too_complex"


class PdfTimeoutError(PdfPromptError):
    """Working on the PDF took longer than its time limit; the process was stopped."""

    code = "pdf_timeout"
    transient = True  # the first time: a busy machine; `as_repeated` makes a second final


class PdfInputMissingError(PdfPromptError):
    """A PDF the job was submitted with is gone (the asset or the job's file deleted)."""

    code = "pdf_input_missing"


class PageRangeError(PdfPromptError):
    """A split's range begins past the document's last page."""

    code = "page_range_invalid"


@dataclass(frozen=True, slots=True)
class PdfLimits:
    """What reading one PDF may take: pages, objects, bytes its streams decode to (each and
    all), the memory and CPU seconds of the process, and the wall-clock seconds."""

    max_pages: int = 2000
    max_objects: int = 500_000
    max_stream_bytes: int = 256 * 1024 * 1024
    max_decoded_bytes: int = 1024 * 1024 * 1024
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_s: int = 60
    timeout_s: float = 90.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_pages": self.max_pages,
            "max_objects": self.max_objects,
            "max_stream_bytes": self.max_stream_bytes,
            "max_decoded_bytes": self.max_decoded_bytes,
            "memory_bytes": self.memory_bytes,
            "cpu_s": self.cpu_s,
            "timeout_s": self.timeout_s,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> PdfLimits:
        return cls(**value)


@dataclass(frozen=True, slots=True)
class PdfSource:
    """One PDF a job reads: an asset (by id) or a job's file (by file id, with its job);
    `title` names it in a merge's outline (None: the PDF's own title, else its name)."""

    kind: Literal["asset", "file"]
    id: str
    name: str  # the asset's name or the file's name: the outline title of last resort
    job_id: str | None = None
    title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {self.kind: self.id, "name": self.name}
        if self.job_id is not None:
            value["job"] = self.job_id
        if self.title is not None:
            value["title"] = self.title
        return value

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> PdfSource:
        kind: Literal["asset", "file"] = "asset" if "asset" in value else "file"
        return cls(
            kind=kind,
            id=str(value[kind]),
            name=str(value.get("name", "")),
            job_id=value.get("job"),
            title=value.get("title"),
        )

    def shown(self) -> dict[str, Any]:
        """As the job object shows it: the asset, or the file and its job."""
        value: dict[str, Any] = {self.kind: self.id}
        if self.job_id is not None:
            value["job"] = self.job_id
        if self.title is not None:
            value["title"] = self.title
        return value


@dataclass(frozen=True, slots=True)
class PdfJobInput:
    """What a `merge`, `split` or `pdf` job keeps as its input (JSON in the job row)."""

    sources: tuple[PdfSource, ...]
    ranges: str | None = None  # a split's, as given ('1-3,4-')

    def to_text(self) -> str:
        value: dict[str, Any] = {"sources": [s.as_dict() for s in self.sources]}
        if self.ranges is not None:
            value["ranges"] = self.ranges
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> PdfJobInput:
        value = json.loads(text)
        return cls(
            sources=tuple(PdfSource.from_dict(s) for s in value["sources"]),
            ranges=value.get("ranges"),
        )


def pdf_input_of(text: str) -> dict[str, Any] | None:
    """What the job object shows of a PDF job's input: `inputs` (and a split's `ranges`);
    None when unreadable."""
    try:
        parsed = PdfJobInput.from_text(text)
    except (ValueError, KeyError, TypeError):
        return None
    shown: dict[str, Any] = {"inputs": [s.shown() for s in parsed.sources]}
    if parsed.ranges is not None:
        shown["ranges"] = parsed.ranges
    return shown


def pdf_job_words(text: str) -> str:
    """What a PDF job's history line and search show of its input: the PDFs' names (and
    titles), and a split's ranges."""
    try:
        parsed = PdfJobInput.from_text(text)
    except (ValueError, KeyError, TypeError):
        return ""
    names = ", ".join(s.title or s.name for s in parsed.sources)
    return f"{names} ({parsed.ranges})" if parsed.ranges else names


# A split's ranges: pages and spans separated by commas; a span may leave its end open
# ('4-': to the last page).
SPLIT_RANGES = r"^ *\d{1,6}( *- *(\d{1,6})?)?( *, *\d{1,6}( *- *(\d{1,6})?)?)* *$"
_SPLIT_RANGES = re.compile(SPLIT_RANGES)


def split_spans(ranges: str, field: str = "ranges") -> list[tuple[int, int | None]]:
    """The (first, last) page of each range of a split, in order; last None for an open
    end ('4-'). `InvalidInputError` naming `field` for anything else, an empty range
    ('5-3', '0') or more than `MAX_SPLIT_PARTS` ranges."""
    if len(ranges) > 2000 or not _SPLIT_RANGES.match(ranges):
        shown = ranges if len(ranges) <= 40 else ranges[:39] + "…"
        raise InvalidInputError(
            f"{field}: {shown!r} is not a list of pages such as '1-3, 4-' (a range's end may "
            "be left open: to the last page)",
            field=field,
        )
    spans: list[tuple[int, int | None]] = []
    for part in ranges.split(","):
        first_text, _, last_text = part.partition("-")
        first = int(first_text)
        last = int(last_text) if last_text.strip() else (None if "-" in part else first)
        if first < 1 or (last is not None and last < first):
            raise InvalidInputError(f"{field}: range {part.strip()!r} is empty", field=field)
        spans.append((first, last))
    if len(spans) > MAX_SPLIT_PARTS:
        raise InvalidInputError(
            f"{field}: {len(spans)} ranges; a split makes at most {MAX_SPLIT_PARTS} files",
            field=field,
        )
    return spans


def split_pages(ranges: str, pages: int) -> list[tuple[int, int]]:
    """Each range of `ranges` as (first, last) pages, 1-based, of a document of `pages`
    pages (an open end is its last page); `PageRangeError` for a range that goes past the
    last page."""
    found: list[tuple[int, int]] = []
    for first, last in split_spans(ranges):
        end = pages if last is None else last
        if first > pages or end > pages:
            shown = (
                f"{first}-" if last is None else f"{first}-{last}" if last != first else f"{first}"
            )
            raise PageRangeError(
                f"ranges: range {shown} goes past the last page (the PDF has {pages} pages)"
            )
        found.append((first, end))
    return found

"""Assets: a user's uploaded images, fonts and data files (JSON, XML, CSV, plain text, for
attachments), and how a document names them (`asset:ID` or
`asset:NAME`). What an upload's bytes are is read from the bytes themselves (`sniff_type`),
never from what the client says they are."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pdfprompt.domain.errors import InvalidInputError, PdfPromptError
from pdfprompt.domain.ids import new_id

ASSET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ASSET_ID_PATTERN = r"^ast_[0-9a-f-]{36}$"
_NAME = re.compile(ASSET_NAME_PATTERN)
_ID = re.compile(ASSET_ID_PATTERN)

# What may be uploaded, by media type: its kind, and the words an error names it by.
ASSET_TYPES: dict[str, tuple[str, str]] = {
    "image/png": ("image", "PNG"),
    "image/jpeg": ("image", "JPEG"),
    "image/gif": ("image", "GIF"),
    "image/webp": ("image", "WebP"),
    "image/svg+xml": ("image", "SVG"),
    "font/ttf": ("font", "TTF"),
    "font/otf": ("font", "OTF"),
    "font/woff": ("font", "WOFF"),
    "font/woff2": ("font", "WOFF2"),
    "application/pdf": ("pdf", "PDF"),  # for the PDF jobs (merge, split, pdf)
    # Data files, attached to PDFs (options.attachments), never given to a renderer.
    "application/json": ("data", "JSON"),
    "application/xml": ("data", "XML"),
    "text/csv": ("data", "CSV"),
    "text/plain": ("data", "plain text"),
}
# The kinds of asset a document's `asset:` references may load into a render.
RENDERED_KINDS = frozenset({"image", "font"})
ACCEPTED_TYPES = ", ".join(words for _, words in ASSET_TYPES.values())

# How a document refers to an asset: `asset:` and an id or a name, where a URL starts (in a
# quoted or unquoted attribute value, or CSS `url(`). Names never hold a quote, a space or a
# parenthesis, so the reference ends where the name does.
ASSET_REFERENCE = re.compile(
    r"""(?<=["'(=])(\s*)asset:(ast_[0-9a-f-]{36}|[A-Za-z0-9][A-Za-z0-9._-]{0,99})"""
    r"(?![A-Za-z0-9._-])"
)
MAX_ASSET_REFERENCES = 200  # distinct assets one document may use

# What a text file does not hold: control characters other than tab, line feed, form feed
# and carriage return.
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# An SVG document's start: an XML declaration, comments and a doctype may come first.
_SVG_START = re.compile(
    rb"^\s*(?:<\?xml[^>]{0,200}\?>\s*)?(?:<!--.{0,2000}?-->\s*)*"
    rb"(?:<!DOCTYPE[^>]{0,500}>\s*)?(?:<!--.{0,2000}?-->\s*)*<svg[\s>/]",
    re.S | re.I,
)


class StorageFullError(PdfPromptError):
    """Keeping this upload would pass the plan's storage."""

    code = "quota_exceeded"


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    name: str
    content_type: str
    kind: str  # "image", "font" or "data"
    size_bytes: int
    sha256: str
    storage_key: str
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "kind": self.kind,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def new_asset_id() -> str:
    return "ast_" + new_id()


def is_asset_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def check_asset_name(name: str, field: str = "name") -> str:
    """The name, or `InvalidInputError` naming `field` when it is not one."""
    if not _NAME.fullmatch(name) or is_asset_id(name):
        shown = name if len(name) <= 40 else name[:39] + "…"
        raise InvalidInputError(
            f"{field}: {shown!r} is not an asset name (1 to 100 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit, not an asset id)",
            field=field,
        )
    return name


def name_from_filename(filename: str) -> str:
    """An asset name made from an uploaded file's name: its last path part, with every
    character a name may not hold replaced by `-` (InvalidInputError when nothing is left)."""
    base = re.split(r"[/\\]", filename)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", base).lstrip("._-")[:100]
    return check_asset_name(cleaned, "file")


def sniff_type(data: bytes) -> str | None:
    """The media type of an image, font or PDF, read from its first bytes; None for anything
    else (the rest of the bytes are checked by decoding them: `generate.inspect_asset`, and
    for a PDF `pdf.check_pdf` in a child process)."""
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"\x00\x01\x00\x00", b"true")):
        return "font/ttf"
    if head.startswith(b"OTTO"):
        return "font/otf"
    if head.startswith(b"wOFF"):
        return "font/woff"
    if head.startswith(b"wOF2"):
        return "font/woff2"
    text = data[:4096].removeprefix(b"\xef\xbb\xbf")
    if _SVG_START.match(text):
        return "image/svg+xml"
    return _text_type(text, whole=len(data) <= 4096)


def _text_type(head: bytes, *, whole: bool) -> str | None:
    """A data file's type from its first bytes (`whole`: all of them): UTF-8 text without
    control characters is JSON when it starts with `{` or `[`, XML with `<`, CSV when its
    first lines hold the same number of one separator, else plain text. A PDF is none of
    them."""
    if not head or head.startswith(b"%PDF"):
        return None
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if whole or exc.start < len(head) - 3:  # not a character cut at the end
            return None
        decoded = head[: exc.start].decode("utf-8")
    if _BINARY.search(decoded):
        return None
    start = decoded.lstrip()
    if start.startswith(("{", "[")):
        return "application/json"
    if start.startswith("<"):
        return "application/xml"
    lines = [line for line in decoded.splitlines() if line.strip()]
    if not whole:
        lines = lines[:-1]  # perhaps cut short
    lines = lines[:20]
    if len(lines) >= 2:
        for separator in (",", ";", "\t"):
            counts = {line.count(separator) for line in lines}
            if len(counts) == 1 and counts != {0}:
                return "text/csv"
    return "text/plain"


def refused_type() -> InvalidInputError:
    return InvalidInputError(
        f"file: not an image, font, PDF or data file this service takes (accepted: "
        f"{ACCEPTED_TYPES}; the "
        "type is read from the bytes)",
        field="file",
    )

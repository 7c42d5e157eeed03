"""Files embedded in a PDF as attachments: each in the document's EmbeddedFiles name tree,
with its media type, size and dates, and its relationship to the document
(`/AFRelationship`), listed in the catalog's `/AF` array as PDF/A-3 asks. Blocking: run it
in a thread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pikepdf import Array, AttachedFileSpec, Dictionary, Name, Pdf, String


@dataclass(frozen=True, slots=True)
class AttachedFile:
    name: str  # the file's name in the PDF
    data: bytes
    content_type: str
    description: str | None = None
    relationship: str = "Data"  # one of domain.RELATIONSHIPS


def attach_files(pdf: Pdf, files: Sequence[AttachedFile]) -> None:
    """Embed `files` in `pdf` (changed in place); a name already attached is replaced."""
    if not files:
        return
    now = pdf_date(datetime.now(UTC))
    listed = pdf.Root.get(Name.AF)
    af = Array(listed) if isinstance(listed, Array) else Array()
    for file in files:
        spec = AttachedFileSpec(
            pdf,
            file.data,
            description=file.description or "",
            filename=file.name,
            mime_type=file.content_type,
            creation_date=now,
            mod_date=now,
            relationship=Name("/" + file.relationship),
        )
        pdf.attachments[file.name] = spec
        made = pdf.attachments[file.name].obj
        # The embedded stream's /Params carry its size (readers show it; PDF/A-3 expects
        # the dates there too).
        for stream in made.EF.values():
            params = stream.get(Name.Params)
            if not isinstance(params, Dictionary):
                params = Dictionary()
                stream[Name.Params] = params
            params[Name.Size] = len(file.data)
            params[Name.ModDate] = String(now)
            params[Name.CreationDate] = String(now)
        af.append(made if made.is_indirect else pdf.make_indirect(made))
    pdf.Root[Name.AF] = pdf.make_indirect(af)


def pdf_date(moment: datetime) -> str:
    """A PDF date string (D:YYYYMMDDHHmmSS+HH'mm')."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return moment.strftime("D:%Y%m%d%H%M%S") + f"{sign}{minutes // 60:02d}'{minutes % 60:02d}'"

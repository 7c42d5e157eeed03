"""PDF post-processing: document information (author, subject, keywords) Chromium cannot set."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter

from pdfprompt.domain import RenderOptions


def needs_metadata(options: RenderOptions) -> bool:
    return bool(options.author or options.subject or options.keywords)


def write_metadata(pdf: bytes, options: RenderOptions) -> bytes:
    """The PDF with title, author, subject and keywords in its information dictionary."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    info = {
        "/Title": options.title,
        "/Author": options.author,
        "/Subject": options.subject,
        "/Keywords": options.keywords,
        "/Producer": "pdfprompt",
    }
    writer.add_metadata({k: v for k, v in info.items() if v})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

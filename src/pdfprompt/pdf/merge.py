"""Many PDFs as one: pages appended in order, an outline entry at the first page of each."""

from __future__ import annotations

from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter


def merge_pdfs(parts: Sequence[tuple[str, str]], out_path: str) -> int:
    """Merge the PDF files of `parts` ((path, outline title), in order) into the file
    `out_path`; the number of pages. The parts are read from their files as pages are
    taken (not loaded whole first). Blocking: run it in a thread."""
    writer = PdfWriter()
    for path, title in parts:
        start = len(writer.pages)
        writer.append(PdfReader(path), import_outline=False)
        if len(writer.pages) > start:
            writer.add_outline_item(title=title, page_number=start)
    with open(out_path, "wb") as out:
        writer.write(out)
    return len(writer.pages)

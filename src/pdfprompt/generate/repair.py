"""What the model is asked when the document it wrote printed badly: its own HTML, what the
print-quality check found, and how each finding is usually fixed."""

from __future__ import annotations

from collections.abc import Sequence

from pdfprompt.domain import JobWarning
from pdfprompt.generate.document import SYSTEM_PROMPT

# Put in the request so that a peer (the fake LLM in tests) can tell a repair from a first
# answer; a model reads it as a heading.
REPAIR_REQUEST_MARK = "PRINT CHECK FINDINGS"
# The most of the document sent back (a longer one is not repaired: the model would only
# see part of it). Documents are capped well below this when written.
MAX_REPAIRED_CHARS = 400_000
_FIXES = {
    "overflow": "make it fit the page's printable width: no fixed widths wider than the "
    "page (use width: 100% / max-width: 100%), table-layout: fixed with wrapping cells or a "
    "smaller font for wide tables, overflow-wrap: anywhere for long words and URLs, no "
    "white-space: nowrap on long text",
    "tiny_text": "set no text smaller than 7pt",
    "missing_glyphs": "replace characters no common font has (private-use symbols, icon "
    "font code points) with plain text or an inline SVG",
    "blank_page": "remove the forced page breaks or empty blocks that leave a page empty",
    "broken_image": "remove images that cannot load, or replace them with an inline SVG or text",
}


def repair_messages(document: str, findings: Sequence[JobWarning]) -> list[dict[str, str]]:
    """The chat messages asking the model to correct `document` for `findings` and answer
    with the whole corrected document."""
    listed = "\n".join(f"- [{w.code}] {w.message}" for w in findings)
    fixes = "\n".join(
        f"- {code}: {fix}" for code, fix in _FIXES.items() if any(w.code == code for w in findings)
    )
    request = (
        "This HTML document was printed to PDF, and the print check found problems.\n\n"
        f"{REPAIR_REQUEST_MARK}:\n{listed}\n\nUsual fixes:\n{fixes}\n\n"
        "Correct the document so that none of these problems remain. Keep its content, "
        "structure and design otherwise as they are. Answer with the complete corrected "
        "document in one ```html code fence.\n\nThe document:\n\n```html\n"
        + document[:MAX_REPAIRED_CHARS]
        + "\n```"
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": request},
    ]

"""What the print-quality check finds in a printed document, as job warnings, and how two
prints of one document are compared (the repair pass keeps the better one). No I/O: the
engines measure, this module names and weighs what they measured."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pdfprompt.domain.jobs import JobWarning

# The warning codes of the check, and how much each one spoils a print: content cut off at
# the page's edge or a blank page is worse than a glyph printed as a box, worse than a
# missing image, worse than text too small to read comfortably.
QUALITY_SEVERITY = {
    "overflow": 3,
    "blank_page": 3,
    "missing_glyphs": 2,
    "broken_image": 2,
    "tiny_text": 1,
}
QUALITY_CODES = frozenset(QUALITY_SEVERITY)
# The most findings of one code named one by one; the rest are counted in one more warning.
MAX_FINDINGS_PER_CODE = 5
# Text printed smaller than this is reported (6 pt; 1 pt = 4/3 CSS px).
MIN_READABLE_PT = 6.0
_SHOWN_CHARS = 60


@dataclass(frozen=True, slots=True)
class LayoutFinding:
    """One thing the layout measurement found: its code, the element (a selector-like
    description) and the first words of its text; `detail` says by how much (px, pt)."""

    code: str
    element: str
    text: str = ""
    detail: str = ""


def layout_warnings(findings: Iterable[LayoutFinding], counts: dict[str, int]) -> list[JobWarning]:
    """The warnings for what the layout measurement found; `counts`: how many it found of
    each code in all (more than it lists when there were many)."""
    listed: dict[str, list[JobWarning]] = {}
    for found in findings:
        message = _LAYOUT_WORDS[found.code].format(
            element=found.element,
            text=f" ({_shown(found.text)!r})" if found.text else "",
            detail=found.detail,
        )
        shown = listed.setdefault(found.code, [])
        if len(shown) < MAX_FINDINGS_PER_CODE:
            shown.append(JobWarning(found.code, message))
    warnings: list[JobWarning] = []
    for code, shown in listed.items():
        warnings.extend(shown)
        more = counts.get(code, len(shown)) - len(shown)
        if more > 0:
            warnings.append(JobWarning(code, f"and {more} more elements like these"))
    return warnings


_LAYOUT_WORDS = {
    "overflow": "content beyond the page's printable width is cut off: {element}{text} {detail}",
    "tiny_text": "text too small to read: {element}{text} is {detail} (under "
    f"{MIN_READABLE_PT:g} pt)",
    "broken_image": "an image could not be shown: {element}{text} {detail}",
}


def blank_page_warning(pages: Sequence[int]) -> JobWarning:
    """The warning for the pages that print nothing (1-based numbers)."""
    shown = ", ".join(str(p) for p in pages[:20]) + (" …" if len(pages) > 20 else "")
    noun = "page" if len(pages) == 1 else "pages"
    verb = "prints" if len(pages) == 1 else "print"
    return JobWarning("blank_page", f"{noun} {shown} of the PDF {verb} nothing (blank {noun})")


def missing_glyphs_warning(page: int, count: int, chars: Sequence[str]) -> JobWarning:
    """The warning for `count` characters on `page` that no installed font has, printed as
    empty boxes; `chars`: the ones the PDF names."""
    named = ", ".join(f"U+{ord(c):04X}" for c in list(dict.fromkeys(chars))[:8])
    which = f" ({named})" if named else ""
    noun = "character has" if count == 1 else "characters have"
    return JobWarning(
        "missing_glyphs",
        f"page {page}: {count} {noun} no glyph in any installed font and print as empty "
        f"boxes{which}",
    )


def quality_findings(warnings: Iterable[JobWarning]) -> tuple[JobWarning, ...]:
    """The warnings of a render that are the print-quality check's."""
    return tuple(w for w in warnings if w.code in QUALITY_CODES)


def quality_cost(warnings: Iterable[JobWarning]) -> tuple[int, int]:
    """How badly a print came out, to compare two prints of one document: the summed
    severity of its findings, then their number (lower is better; (0, 0) is a clean one)."""
    found = quality_findings(warnings)
    return sum(QUALITY_SEVERITY[w.code] for w in found), len(found)


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"

"""The finishing steps on a PDF's bytes, with everything they need already loaded (image and
attachment assets, the document's title, language and alt texts): watermark, stamp, the
plan's watermark, attachments, PDF/A, PDF/UA, encryption, in that order, in one pass (the
file is read once and written once). A step that cannot be done raises and nothing is
returned. Blocking: run it in a thread."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pikepdf

from pdfprompt.domain import InvalidInputError, Mark, Protection
from pdfprompt.pdf.access import Accessibility, make_pdfua, pdfua_problems
from pdfprompt.pdf.archive import make_pdfa, pdfa_problems
from pdfprompt.pdf.attach import AttachedFile, attach_files
from pdfprompt.pdf.marks import MarkImage, draw_mark
from pdfprompt.pdf.protect import encryption
from pdfprompt.pdf.stamp import WATERMARK_TEXT

# The plan's watermark when finishing draws it (over the user's marks): as `stamp` draws
# it, 8 pt grey at the bottom right, 16 mm from the edges.
PLAN_MARK = Mark(
    text=WATERMARK_TEXT,
    font_size=8.0,
    color="#8b8b8b",
    opacity=1.0,
    angle=0.0,
    position="bottom-right",
)
PLAN_MARK_MARGIN_PT = 16 / 25.4 * 72


@dataclass(frozen=True, slots=True)
class MarkStep:
    mark: Mark
    over: bool
    field: str  # the option it came from, for errors
    image: MarkImage | None = None
    margin_pt: float | None = None


@dataclass(frozen=True, slots=True)
class FinishSteps:
    marks: tuple[MarkStep, ...] = ()
    attachments: tuple[AttachedFile, ...] = ()
    pdfa: str | None = None
    pdfua: Accessibility | None = None
    protection: Protection | None = None


def finish_document(data: bytes, steps: FinishSteps) -> tuple[bytes, list[str]]:
    """`data` with `steps` applied; and what the PDF/UA step could not mend (warnings).
    The PDF/A result is checked (`pdfa_problems`) before it is returned: a problem there is
    an `InvalidInputError` on options.pdfa."""
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise InvalidInputError("the PDF is encrypted and cannot be finished") from None
    except pikepdf.PdfError as exc:
        raise InvalidInputError(f"the PDF cannot be read ({exc})") from None
    with pdf:
        if pdf.is_encrypted:
            raise InvalidInputError("the PDF is encrypted and cannot be finished")
        notes: list[str] = []
        for step in steps.marks:
            draw_mark(
                pdf,
                step.mark,
                over=step.over,
                field=step.field,
                image=step.image,
                **({"margin_pt": step.margin_pt} if step.margin_pt is not None else {}),
            )
        attach_files(pdf, steps.attachments)
        if steps.pdfa is not None:
            make_pdfa(pdf, steps.pdfa, pdfua=steps.pdfua is not None)
        if steps.pdfua is not None:
            notes += make_pdfua(pdf, steps.pdfua, pdfa=steps.pdfa)
        out = io.BytesIO()
        if steps.protection is not None:
            pdf.save(out, encryption=encryption(steps.protection))
        else:
            pdf.save(out)
    written = out.getvalue()
    if steps.pdfa is not None:
        check(written, steps.pdfa)
    return written, notes


def check(data: bytes, level: str) -> None:
    """`InvalidInputError` on options.pdfa naming what keeps `data` from PDF/A-`level`."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        problems = pdfa_problems(pdf, level)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise InvalidInputError(
            f"options.pdfa: the result is not PDF/A-{level}: {shown}", field="options.pdfa"
        )


def conformance(data: bytes, *, pdfa: str | None, pdfua: bool, password: str = "") -> list[str]:
    """The project's own checks of a finished PDF: PDF/A-`pdfa` and PDF/UA-1 problems."""
    with pikepdf.open(io.BytesIO(data), password=password) as pdf:
        found = pdfa_problems(pdf, pdfa) if pdfa else []
        if pdfua:
            found += pdfua_problems(pdf)
    return found

"""Post-processing of rendered PDFs: document information and outline titles, actions that
are not harmless dropped, and the watermark stamped on every page; all appended to the
rendered bytes as one incremental update. And the first page drawn as a small PNG
(`first_page_png`), the thumbnail the history shows."""

from __future__ import annotations

from pdfprompt.domain import RenderOptions
from pdfprompt.pdf.access import Accessibility, figures, headings, pdfua_problems, read_document
from pdfprompt.pdf.archive import pdfa_problems, srgb_profile
from pdfprompt.pdf.attach import AttachedFile
from pdfprompt.pdf.certificates import SigningKey, check_dates, read_pkcs12, read_sealed_key
from pdfprompt.pdf.destinations import destination_pages
from pdfprompt.pdf.finishing import (
    PLAN_MARK,
    PLAN_MARK_MARGIN_PT,
    FinishSteps,
    MarkStep,
    conformance,
    finish_document,
)
from pdfprompt.pdf.links import SAFE_SCHEMES, disarm, may_have_unsafe_actions, safe_uri
from pdfprompt.pdf.marks import MarkImage, mark_text_error
from pdfprompt.pdf.merge import merge_pdfs
from pdfprompt.pdf.metadata import heading_texts, mended_title, needs_rewrite, rewrite
from pdfprompt.pdf.quality import MAX_CHECKED_PAGES, printed_findings
from pdfprompt.pdf.sign import SigningSetup, TimestampAuthority, sign_pdf
from pdfprompt.pdf.stamp import WATERMARK_TEXT, stamp
from pdfprompt.pdf.thumbnail import THUMBNAIL_WIDTH_PX, first_page_png
from pdfprompt.pdf.update import PdfUpdate
from pdfprompt.pdf.workshop import PdfMade, PdfPart, PdfWorkshop

# Changes whenever finishing makes different bytes of the same render (a render cache keyed
# with it never hands out a PDF finished the old way).
FINISH_VERSION = 1


def finish(pdf: bytes, options: RenderOptions, document: str, *, watermark: bool) -> bytes:
    """The rendered PDF finished: the information and outline titles the options ask for
    (`document` is the HTML it was rendered from), every action but links to http, https and
    mailto addresses and within the document dropped, and, with `watermark`, WATERMARK_TEXT
    at the bottom right of every page, drawn over the content. The same bytes when nothing
    is to change; a PDF that has no action and needs nothing else is not even parsed."""
    actions = may_have_unsafe_actions(pdf)
    if not (watermark or actions or needs_rewrite(options)):
        return pdf
    update = PdfUpdate(pdf)
    if needs_rewrite(options):
        rewrite(update, options, document)
    if actions:
        disarm(update)
    if watermark:
        stamp(update, WATERMARK_TEXT)
    return update.written()


__all__ = [
    "FINISH_VERSION",
    "MAX_CHECKED_PAGES",
    "PLAN_MARK",
    "PLAN_MARK_MARGIN_PT",
    "SAFE_SCHEMES",
    "THUMBNAIL_WIDTH_PX",
    "WATERMARK_TEXT",
    "Accessibility",
    "AttachedFile",
    "FinishSteps",
    "MarkImage",
    "MarkStep",
    "PdfMade",
    "PdfPart",
    "PdfUpdate",
    "PdfWorkshop",
    "SigningKey",
    "SigningSetup",
    "TimestampAuthority",
    "check_dates",
    "conformance",
    "destination_pages",
    "disarm",
    "figures",
    "finish",
    "finish_document",
    "first_page_png",
    "heading_texts",
    "headings",
    "mark_text_error",
    "may_have_unsafe_actions",
    "mended_title",
    "merge_pdfs",
    "needs_rewrite",
    "pdfa_problems",
    "pdfua_problems",
    "printed_findings",
    "read_document",
    "read_pkcs12",
    "read_sealed_key",
    "safe_uri",
    "sign_pdf",
    "srgb_profile",
    "stamp",
]

"""The finishing steps on what both engines render: the plan's watermark still drawn last on
every page of the documents that try to hide it, with the user's marks under and over;
PDF/A-3b with attachments and PDF/UA passing the project's checks, Ghostscript and qpdf;
marks placed on turned pages; and PDFs a step cannot take refused with nothing returned."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pikepdf
import pytest

from pdfprompt.domain import (
    FinishOptions,
    InvalidInputError,
    Mark,
    Protection,
    RenderOptions,
    Signing,
)
from pdfprompt.pdf import (
    PLAN_MARK,
    PLAN_MARK_MARGIN_PT,
    AttachedFile,
    FinishSteps,
    MarkStep,
    conformance,
    figures,
    finish_document,
    headings,
    read_document,
)
from pdfprompt.pipeline.finishing import FinishTools, finish_pdf
from pdfprompt.render import RendererPool, render_pdf, renderer_from_settings
from pdfprompt.storage import LocalStorage
from tests.support.finishing import ghostscript_reads, page_text, pixels, qpdf_check
from tests.support.hostile import WATERMARK_DOCUMENTS, watermarked_pages
from tests.support.render import ENGINES, engine_settings

PLAN = MarkStep(PLAN_MARK, True, "plan", margin_pt=PLAN_MARK_MARGIN_PT)
# A red square (a PNG as a data: URI).
SQUARE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGO8"
    "w4AATAxEcQAs2ADkpbAcVwAAAABJRU5ErkJggg=="
)
DOCUMENT = (
    "<!doctype html><html lang='fr'><head><title>Rapport</title></head><body>"
    f"<h1>Rapport</h1><p>Texte.</p><img src='{SQUARE}' alt='Un carré rouge'>"
    "<h2>Chiffres</h2><table><tr><th>a</th><td>1</td></tr>"
    "</table><p><a href='https://example.com/'>source</a></p></body></html>"
)


@pytest.fixture(params=ENGINES)
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(
        request.param, max_pdf_concurrency=2, max_pages=25, render_timeout_s=30
    )
    async with renderer_from_settings(settings) as r:
        yield r


async def test_the_plans_watermark_stays_last_over_the_users_marks_on_hostile_documents(
    renderer: RendererPool,
) -> None:
    marks = (
        MarkStep(Mark(text="DRAFT"), False, "options.watermark"),
        MarkStep(Mark(text="COPY", position="top-left", angle=0), True, "options.stamp"),
        PLAN,
    )
    unmarked = {}
    for name, (document, values) in WATERMARK_DOCUMENTS.items():
        rendered = await render_pdf(renderer, document, RenderOptions.from_dict(values))
        finished, _ = finish_document(rendered.data, FinishSteps(marks=marks))
        pages = watermarked_pages(finished)
        assert len(pages) == rendered.pages
        if not all(pages):
            unmarked[name] = pages
    assert unmarked == {}


async def test_pdfa_3b_with_attachments_and_pdfua_pass_the_checks(
    renderer: RendererPool, tmp_path: Path
) -> None:
    rendered = await render_pdf(renderer, DOCUMENT, RenderOptions(tagged=True))
    steps = FinishSteps(
        marks=(MarkStep(Mark(text="Archivé · 2026 €", angle=0), False, "options.watermark"), PLAN),
        attachments=(AttachedFile("data.csv", b"a,b\n1,2\n", "text/csv"),),
        pdfa="3b",
        pdfua=read_document(DOCUMENT),
    )
    finished, notes = finish_document(rendered.data, steps)
    assert notes == []
    assert conformance(finished, pdfa="3b", pdfua=True) == []
    qpdf_check(finished, tmp_path)
    ghostscript_reads(finished, tmp_path)
    assert "Archivé · 2026 €" in page_text(finished, tmp_path, 1)
    with pikepdf.open(io.BytesIO(finished)) as pdf:
        assert pdf.Root.Lang == "fr" and headings(pdf) == [1, 2]
        assert figures(pdf) == ["Un carré rouge"]


async def test_a_document_without_a_title_is_named_by_its_first_heading(
    renderer: RendererPool,
) -> None:
    document = "<p>Intro</p><h2>Quarterly <em>figures</em></h2><h3>More</h3><h1>Later</h1>"
    rendered = await render_pdf(renderer, document, RenderOptions(tagged=True))
    finished, _ = finish_document(rendered.data, FinishSteps(pdfua=read_document(document)))
    with pikepdf.open(io.BytesIO(finished)) as pdf:
        assert str(pdf.docinfo.Title) == "Quarterly figures"
    nothing = "<p>No title, no heading</p>"
    rendered = await render_pdf(renderer, nothing, RenderOptions(tagged=True))
    with pytest.raises(InvalidInputError, match="no title") as raised:
        finish_document(rendered.data, FinishSteps(pdfua=read_document(nothing)))
    assert raised.value.field == "options.pdfua"


async def test_an_untagged_render_cannot_be_pdfua_and_nothing_is_returned(
    renderer: RendererPool,
) -> None:
    rendered = await render_pdf(renderer, DOCUMENT, RenderOptions())
    with pytest.raises(InvalidInputError, match="not tagged") as raised:
        finish_document(rendered.data, FinishSteps(pdfua=read_document(DOCUMENT)))
    assert raised.value.field == "options.pdfua"


def _turned(rotate: int) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(400, 200))
    pdf.pages[0].obj.Rotate = rotate
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_marks_are_placed_on_the_page_as_shown(rotate: int) -> None:
    """A mark at the top-left of a turned page is drawn at the top-left of the page as a
    reader shows it (pypdfium2 draws the page turned)."""
    mark = Mark(
        text="CORNER", angle=0, font_size=12, opacity=1, color="#000000", position="top-left"
    )
    finished, _ = finish_document(_turned(rotate), FinishSteps(marks=(MarkStep(mark, True, "s"),)))
    width, height, data = pixels(finished)
    dark = [(i % width, i // width) for i in range(width * height) if data[3 * i] < 128]
    assert dark, rotate
    xs, ys = [x for x, _ in dark], [y for _, y in dark]
    assert max(xs) < width / 2 and max(ys) < height / 2, (
        rotate,
        min(xs),
        max(xs),
        min(ys),
        max(ys),
    )
    # Inside the margin: 0.5 in, or an eighth of a small page's side (25 pt here).
    assert min(xs) >= 20 and min(ys) >= 20


def test_encrypted_or_broken_input_is_refused() -> None:
    plain = _turned(0)
    locked, _ = finish_document(plain, FinishSteps(protection=Protection(user_password="x")))
    with pytest.raises(InvalidInputError, match="encrypted"):
        finish_document(locked, FinishSteps(marks=(PLAN,)))
    with pytest.raises(InvalidInputError, match="cannot be read"):
        finish_document(b"%PDF-1.7\nnot a pdf at all", FinishSteps(marks=(PLAN,)))


def test_a_mark_on_pages_past_the_end_fails_naming_its_field() -> None:
    mark = Mark(text="X", pages="5-9")
    with pytest.raises(InvalidInputError) as raised:
        finish_document(
            _turned(0), FinishSteps(marks=(MarkStep(mark, False, "options.watermark"),))
        )
    assert raised.value.field == "options.watermark.pages"


class _SigningRecorder:
    """A `Signer` that keeps what it was handed and appends nothing: the chain's side of the
    protocol (the real signer has its own tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, Signing, str, str | None]] = []

    async def sign(self, pdf: bytes, spec: Signing, user_id: str, *, password: str | None) -> bytes:
        self.calls.append((pdf, spec, user_id, password))
        return pdf


async def test_signing_is_last_and_opens_the_encrypted_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    asked = FinishOptions(
        watermark=Mark(text="SIGNED COPY"),
        encrypt=Protection(user_password="reader", print=False),
        sign=Signing(reason="approved"),
    )
    with pytest.raises(InvalidInputError) as refused:
        await finish_pdf(
            _turned(0), asked, FinishTools(storage), user_id="u1", plan_watermark=False
        )
    assert refused.value.field == "options.sign"
    signer = _SigningRecorder()
    done = await finish_pdf(
        _turned(0), asked, FinishTools(storage, signer=signer), user_id="u1", plan_watermark=True
    )
    [(handed, spec, user_id, password)] = signer.calls
    assert handed == done.data and spec.reason == "approved" and user_id == "u1"
    # What the signer is handed is the finished file, encrypted, and the password it gets
    # is the owner's: it opens the file with every permission.
    assert password is not None and password != "reader"
    with pikepdf.open(io.BytesIO(handed), password=password) as pdf:
        assert pdf.owner_password_matched and pdf.is_encrypted
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(handed))

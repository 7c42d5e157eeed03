"""A PDF's first page as a small PNG, for the history page.

PDFium (pypdfium2) draws the page. PDFium is not thread-safe, not even across documents:
every call into it is made under one lock for the whole process, and every object it made
is closed before the lock is released (so no finalizer calls it later from another thread).
Drawing a page at thumbnail size takes a few milliseconds; callers run it in a thread
(`asyncio.to_thread`) so that the event loop goes on meanwhile.
"""

from __future__ import annotations

import io
import threading

import pypdfium2
import pypdfium2.raw
from PIL import Image

from pdfprompt.domain import RenderError

THUMBNAIL_WIDTH_PX = 200
THUMBNAIL_MAX_HEIGHT_PX = 400  # a very tall page is fitted into this, not drawn at full width

_PDFIUM = threading.Lock()


def first_page_png(
    pdf: bytes, width_px: int = THUMBNAIL_WIDTH_PX, max_height_px: int = THUMBNAIL_MAX_HEIGHT_PX
) -> bytes:
    """The first page of `pdf`, drawn on white to fit `width_px` by `max_height_px`, as PNG
    bytes; `RenderError` for bytes PDFium cannot open or a document without pages."""
    with _PDFIUM:
        image = _draw_first_page(pdf, width_px, max_height_px)
    out = io.BytesIO()
    # zlib's fastest level, on every job: for the first pages of bench/corpus/ it took 1.4 to
    # 1.6 ms where the default level (6) took 2.4 to 3.1, and its files were 2 to 3 % smaller
    # (anti-aliased text at this size is not what the slower levels' longer matches find).
    image.save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue()


def _draw_first_page(pdf: bytes, width_px: int, max_height_px: int) -> Image.Image:
    try:
        document = pypdfium2.PdfDocument(pdf)
    except pypdfium2.PdfiumError as exc:
        raise RenderError(f"the PDF could not be opened for its thumbnail ({exc})") from exc
    try:
        if len(document) == 0:
            raise RenderError("the PDF has no page to draw")
        page = document[0]
        try:
            width_pt, height_pt = page.get_size()
            if width_pt <= 0 or height_pt <= 0:
                raise RenderError("the PDF's first page has no size")
            scale = min(width_px / width_pt, max_height_px / height_pt)
            # Drawn straight as RGB (3 bytes a pixel, in that order): no conversion after.
            bitmap = page.render(
                scale=scale,
                may_draw_forms=False,
                fill_color=(255, 255, 255, 255),
                force_bitmap_format=pypdfium2.raw.FPDFBitmap_BGR,
                rev_byteorder=True,
            )
            try:
                # A copy: the image `to_pil` gives shares the bitmap's memory.
                image: Image.Image = bitmap.to_pil().copy()
                return image
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        document.close()

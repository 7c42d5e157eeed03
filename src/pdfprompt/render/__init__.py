"""Rendering HTML to PDF: the warm Chromium pool and the WeasyPrint fallback. What is done to
the PDF afterwards is `pdfprompt.pdf`'s."""

from __future__ import annotations

import logging
from typing import Protocol, Self

from pdfprompt.domain import BrowserUnavailableError, RenderOptions
from pdfprompt.render.chromium import (
    CHROMIUM_ARGS,
    HEADLESS_ARGS,
    MEMORY_CHECK_EVERY,
    ChromiumRenderer,
    RenderedPdf,
    capped_ranges,
    count_pages,
    print_parameters,
)
from pdfprompt.render.weasy import WeasyPrintRenderer
from pdfprompt.settings import Settings

log = logging.getLogger(__name__)


class Renderer(Protocol):
    max_pages: int
    max_bytes: int

    @property
    def name(self) -> str: ...

    async def render(
        self,
        document: str,
        options: RenderOptions,
        max_pages: int | None = None,
        max_bytes: int | None = None,
    ) -> RenderedPdf:
        """The PDF; `PageLimitExceededError` over `max_pages` or the renderer's own limit,
        whichever is lower, and `FileTooLargeError` as soon as the PDF passes `max_bytes` or
        the renderer's own limit, whichever is lower (the rest of it is never read)."""
        ...

    async def check(self) -> None: ...


class RendererPool(Renderer, Protocol):
    """A renderer that starts its processes on enter and stops them on exit."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


async def render_pdf(
    renderer: Renderer,
    document: str,
    options: RenderOptions,
    max_pages: int | None = None,
    max_bytes: int | None = None,
) -> RenderedPdf:
    """The PDF as the renderer prints it (`pdfprompt.pdf.finish` post-processes it)."""
    return await renderer.render(document, options, max_pages, max_bytes)


def renderer_from_settings(settings: Settings) -> RendererPool:
    """The engine `PDFPROMPT_RENDER_ENGINE` asks for. `auto`: Chromium when one is found,
    else WeasyPrint, with a warning (it renders slower and differently)."""
    if settings.render_engine == "weasyprint":
        return weasyprint_renderer(settings)
    # A configured PDFPROMPT_CHROMIUM_PATH that does not exist is an error, not a fallback.
    found = settings.chromium_path or settings.find_chromium()
    if settings.render_engine == "auto" and not found:
        log.warning(
            "no Chromium found (PDFPROMPT_CHROMIUM_PATH, PATH, the usual install locations): "
            "rendering with WeasyPrint instead, which is slower, runs no JavaScript and lays "
            "pages out differently; install Chromium (Debian: apt-get install "
            "chromium-headless-shell, or chromium) or set "
            "PDFPROMPT_RENDER_ENGINE=weasyprint to silence this"
        )
        return weasyprint_renderer(settings)
    return chromium_renderer(settings)


def weasyprint_renderer(settings: Settings) -> WeasyPrintRenderer:
    return WeasyPrintRenderer(
        processes=settings.max_pdf_concurrency,
        timeout_s=settings.render_timeout_s,
        max_pages=settings.max_pages,
        max_bytes=settings.max_pdf_bytes,
        memory_limit_mb=settings.render_memory_limit_mb,
    )


def chromium_renderer(settings: Settings) -> ChromiumRenderer:
    """The Chromium pool the settings describe; `BrowserUnavailableError` when none is found."""
    path = settings.find_chromium()
    if path is None:
        where = settings.chromium_path or "PATH and the usual install locations"
        raise BrowserUnavailableError(
            f"no Chromium found in {where}; install it (Debian: apt-get install "
            "chromium-headless-shell, or chromium) or set PDFPROMPT_CHROMIUM_PATH"
        )
    return ChromiumRenderer(
        path,
        pool_size=settings.browser_pool_size,
        max_concurrency=settings.max_pdf_concurrency,
        timeout_s=settings.render_timeout_s,
        allow_javascript=settings.allow_javascript,
        recycle_after=settings.browser_recycle_after,
        max_memory_mb=settings.browser_max_memory_mb,
        max_pages=settings.max_pages,
        max_bytes=settings.max_pdf_bytes,
        memory_limit_mb=settings.render_memory_limit_mb,
    )


__all__ = [
    "CHROMIUM_ARGS",
    "HEADLESS_ARGS",
    "MEMORY_CHECK_EVERY",
    "ChromiumRenderer",
    "RenderedPdf",
    "Renderer",
    "RendererPool",
    "WeasyPrintRenderer",
    "capped_ranges",
    "chromium_renderer",
    "count_pages",
    "print_parameters",
    "render_pdf",
    "renderer_from_settings",
    "weasyprint_renderer",
]

"""The renderer the settings ask for: Chromium's pool, or WeasyPrint where there is no
Chromium (or where it is asked for)."""

from __future__ import annotations

import logging

from pdfprompt.domain import BrowserUnavailableError
from pdfprompt.render.base import RendererPool
from pdfprompt.render.chromium import ChromiumRenderer, find_chromium
from pdfprompt.render.weasy import WeasyPrintRenderer
from pdfprompt.settings import Settings

log = logging.getLogger(__name__)


def renderer_from_settings(settings: Settings, *, nice: int | None = None) -> RendererPool:
    """The engine `PDFPROMPT_RENDER_ENGINE` asks for. `auto`: Chromium when one is found,
    else WeasyPrint, with a warning (it renders slower and differently). `nice`: Chromium's
    processes run that much lower than this one (`ChromiumRenderer`)."""
    if settings.render_engine == "weasyprint":
        return weasyprint_renderer(settings)
    # A configured PDFPROMPT_CHROMIUM_PATH that does not exist is an error, not a fallback.
    found = settings.chromium_path or find_chromium(None)
    if settings.render_engine == "auto" and not found:
        log.warning(
            "no Chromium found (PDFPROMPT_CHROMIUM_PATH, PATH, the usual install locations): "
            "rendering with WeasyPrint instead, which is slower, runs no JavaScript and lays "
            "pages out differently; install Chromium (Debian: apt-get install "
            "chromium-headless-shell, or chromium) or set "
            "PDFPROMPT_RENDER_ENGINE=weasyprint to silence this"
        )
        return weasyprint_renderer(settings)
    return chromium_renderer(settings, nice=nice)


def weasyprint_renderer(settings: Settings) -> WeasyPrintRenderer:
    return WeasyPrintRenderer(
        processes=settings.max_pdf_concurrency,
        timeout_s=settings.render_timeout_s,
        max_pages=settings.max_pages,
        max_bytes=settings.max_pdf_bytes,
        memory_limit_mb=settings.render_memory_limit_mb,
    )


def chromium_renderer(settings: Settings, *, nice: int | None = None) -> ChromiumRenderer:
    """The Chromium pool the settings describe; `BrowserUnavailableError` when none is found."""
    path = find_chromium(settings.chromium_path)
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
        nice=nice,
        check_layout=settings.print_check,
    )

"""Rendering HTML to PDF: the warm Chromium pool (`chromium/`) and the WeasyPrint fallback
(`weasy.py`), with what they share (`base.py`: the rendered PDF, the `Renderer` protocol,
the limits of one render; `document.py`: the document as each engine is handed it) and the
choice between them (`engines.py`). What is done to the PDF afterwards is `pdfprompt.pdf`'s."""

from pdfprompt.render.base import (
    ASSET_ORIGIN,
    RenderedPdf,
    Renderer,
    RendererPool,
    Resources,
    WebRenderer,
    render_pdf,
)
from pdfprompt.render.chromium import (
    HEADLESS_ARGS,
    MEMORY_CHECK_EVERY,
    ChromiumRenderer,
    capped_ranges,
    find_browser,
    find_chromium,
    find_headless_shell,
    lower_session_group,
    print_parameters,
    process_tree,
)
from pdfprompt.render.engines import chromium_renderer, renderer_from_settings, weasyprint_renderer
from pdfprompt.render.weasy import WeasyPrintRenderer
from pdfprompt.render.web import (
    Fetched,
    FetchFailedError,
    FetchRefusedError,
    PageFetch,
    WebFetcher,
    nameserver_resolve,
    page_target,
    system_resolve,
)

__all__ = [
    "ASSET_ORIGIN",
    "HEADLESS_ARGS",
    "MEMORY_CHECK_EVERY",
    "ChromiumRenderer",
    "FetchFailedError",
    "FetchRefusedError",
    "Fetched",
    "PageFetch",
    "RenderedPdf",
    "Renderer",
    "RendererPool",
    "Resources",
    "WeasyPrintRenderer",
    "WebFetcher",
    "WebRenderer",
    "capped_ranges",
    "chromium_renderer",
    "find_browser",
    "find_chromium",
    "find_headless_shell",
    "lower_session_group",
    "nameserver_resolve",
    "page_target",
    "print_parameters",
    "process_tree",
    "render_pdf",
    "renderer_from_settings",
    "system_resolve",
    "weasyprint_renderer",
]

"""What every engine shares: the rendered PDF, the `Renderer` protocol, and the limits of one
render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from pdfprompt.domain import JobWarning, RenderOptions

if TYPE_CHECKING:
    from pdfprompt.render.web import PageFetch

# The server's bound on a PDF when none is configured (`PDFPROMPT_MAX_PDF_MB`).
DEFAULT_MAX_PDF_BYTES = 200 * 1024 * 1024

# What a render may load besides `data:` URIs: the bytes and media type the sandbox answers
# for each of these absolute URLs (a user's assets, at `ASSET_ORIGIN`), and nothing else.
Resources = Mapping[str, tuple[bytes, str]]
# The origin a document's `asset:` references are rewritten to. `.invalid` never resolves:
# only the engines' request interception answers it, from the render's `Resources`.
ASSET_ORIGIN = "https://asset.pdfprompt.invalid/"


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    data: bytes
    pages: int
    warnings: tuple[JobWarning, ...] = ()  # addresses it refused to load, and the like


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
        resources: Resources | None = None,
    ) -> RenderedPdf:
        """The PDF; `PageLimitExceededError` over `max_pages` or the renderer's own limit,
        whichever is lower, and `FileTooLargeError` as soon as the PDF passes `max_bytes` or
        the renderer's own limit, whichever is lower (the rest of it is never read). The
        document's requests for the URLs of `resources` are answered with their bytes; every
        other request is refused, as always."""
        ...

    async def check(self) -> None: ...


@runtime_checkable
class WebRenderer(Protocol):
    """A renderer that can render a web page from its URL, scripts on (Chromium's pool)."""

    async def render_url(
        self,
        url: str,
        options: RenderOptions,
        fetch: PageFetch,
        max_pages: int | None = None,
        max_bytes: int | None = None,
    ) -> RenderedPdf:
        """The page at `url`, every request it makes fetched by `fetch`."""
        ...


class RendererPool(Renderer, Protocol):
    """A renderer that starts its processes on enter and stops them on exit."""

    @property
    def rendering(self) -> int:
        """Renders under way now: their document handed to a page or process, not yet
        answered."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


async def render_pdf(
    renderer: Renderer,
    document: str,
    options: RenderOptions,
    max_pages: int | None = None,
    max_bytes: int | None = None,
    resources: Resources | None = None,
) -> RenderedPdf:
    """The PDF as the renderer prints it (`pdfprompt.pdf.finish` post-processes it)."""
    if resources:
        return await renderer.render(document, options, max_pages, max_bytes, resources)
    return await renderer.render(document, options, max_pages, max_bytes)


def render_limit(own: int, asked: int | None) -> int:
    """A limit of one render (pages, bytes): the renderer's own, or the one the render asks
    for (its plan's) when that is lower. Both engines stop as soon as a render passes it
    (`PageLimitExceededError.over`, `FileTooLargeError.over`)."""
    return min(own, asked or own)

"""The render cache: what identifies a render, and the PDF an identical earlier render
stored, read back."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, replace

from pdfprompt.domain import NotFoundError, PageLimitExceededError, RenderOptions
from pdfprompt.pdf import FINISH_VERSION
from pdfprompt.queue import JobContext
from pdfprompt.render import RenderedPdf
from pdfprompt.storage import Storage

_LATER_DEFAULTS = {
    "media": None,
    "omit_background": False,
    "prefer_css_page_size": False,
    "wait_for": None,
    # Markdown's: they shape the document's HTML, which the key holds anyway.
    "lang": None,
    "theme": None,
    "toc": None,
    "css": None,
}


def render_key(
    user_id: str,
    engine: str,
    document: str,
    options: RenderOptions,
    *,
    watermark: bool = False,
    assets: Sequence[str] = (),
) -> str:
    """What identifies a render: its owner, the engine, the document, every option that
    shapes the PDF (the download filename does not), whether it is watermarked and how it
    was finished, and what its asset references resolved to (each asset's id and SHA-256,
    so new bytes under a name make a new render). Scoped to the owner, so a cache hit never
    tells one user what another rendered; the watermark is stamped before the PDF is
    stored, so it is part of the key."""
    shaping = asdict(replace(options, filename=None))
    # Options added later shape the PDF too, but at their defaults they are left out, so
    # that a render keeps the key it had before they existed.
    for name, default in _LATER_DEFAULTS.items():
        if shaping[name] == default:
            del shaping[name]
    del shaping["repair"]  # whether a model's print is repaired: not how a document prints
    finishing = [watermark, FINISH_VERSION]
    identity: list[object] = [user_id, engine, shaping, finishing]
    if assets:  # a document without assets keeps the key it had before there were any
        identity.append(list(assets))
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    digest.update(b"\0")
    digest.update(document.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


async def from_cache(
    ctx: JobContext, storage: Storage, key: str, max_pages: int
) -> RenderedPdf | None:
    """The PDF an identical earlier render stored, read back; None when there is none
    (or its file is gone); `PageLimitExceededError` when it has more than `max_pages` (the
    renderer's own limit). Each job keeps a copy of its own, so deleting one job never
    takes another's file."""
    cached = await ctx.store.cached_render(ctx.job.user_id, key)
    rendered = None
    if cached is not None:
        if cached.pages > max_pages:
            raise PageLimitExceededError.over(max_pages, pages=cached.pages)
        with contextlib.suppress(NotFoundError):
            data = await storage.read(cached.storage_key)
            rendered = RenderedPdf(data, cached.pages, cached.warnings)
    if ctx.metrics is not None:
        ctx.metrics.render_cache.labels("miss" if rendered is None else "hit").inc()
    return rendered

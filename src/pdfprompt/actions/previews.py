"""The compose page's Markdown preview: the HTML a Markdown input becomes, made by the same
code the worker prints it with (`wiring.document_html`), within the input's size limit and
a rate of its own."""

from __future__ import annotations

import asyncio

from pdfprompt.accounts import Principal
from pdfprompt.actions.documents import check_input_size
from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.wiring import Services, document_html

MARKDOWN_PREVIEWS_PER_MINUTE = 120  # per user: one a pause in typing, with room to spare


async def markdown_preview(svc: Services, caller: Principal, text: str) -> str:
    """The HTML document `text` (Markdown) becomes, as the PDF is printed from it:
    `PayloadTooLargeError` over the server's input limit, `RateLimitedError` past
    `MARKDOWN_PREVIEWS_PER_MINUTE`. Made off the event loop (a large input takes a while)."""
    check_input_size(svc, text)
    await svc.rate_limiter.hit(
        f"markdown-preview:{caller.user_id}",
        MARKDOWN_PREVIEWS_PER_MINUTE,
        "the Markdown preview",
    )
    return await asyncio.to_thread(document_html, JobType.MARKDOWN, text, RenderOptions())

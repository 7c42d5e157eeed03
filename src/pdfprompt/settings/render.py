"""Settings of `pdfprompt.render`: which engine, how many renders at once, and the bounds that
stop a render (time, pages, bytes, memory)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class RenderSettings(BaseModel):
    """Workers render HTML in a warm, sandboxed Chromium pool, or with WeasyPrint when no
    Chromium is found (docs/render.md)."""

    render_engine: Literal["auto", "chromium", "weasyprint"] = Field(
        default="auto",
        validation_alias=AliasChoices("PDFPROMPT_RENDER_ENGINE"),
        description=(
            "`chromium`, `weasyprint`, or `auto`: Chromium when one is found, else WeasyPrint "
            "with a warning at start."
        ),
    )
    chromium_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_CHROMIUM_PATH"),
        description=(
            "The Chromium to run; a path that does not exist is an error, not a fallback. "
            "Unset: Chromium's headless shell when found "
            "(`/usr/lib/chromium/chromium-headless-shell` on Debian), else a Chromium browser "
            "on `PATH` (`/usr/bin/chromium`). The headless shell costs less CPU per document "
            '(docs/render.md, "Build").'
        ),
    )
    max_pdf_concurrency: int = Field(
        default_factory=lambda: max(1, _cpu_count()),
        ge=1,
        validation_alias=AliasChoices("MAX_PDF_CONCURRENCY"),
        description=(
            "Renders a worker runs at once: pages open in its Chromium pool, or WeasyPrint "
            "processes."
        ),
        json_schema_extra={"shown_default": "the cores this process may use"},
    )
    browser_pool_size: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("BROWSER_POOL_SIZE"),
        description="Chromium processes per worker; the pages are shared out among them.",
    )
    render_timeout_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_RENDER_TIMEOUT_S"),
        description=(
            "Seconds a render may take; a longer one is stopped, the job is retried once, and "
            "a second timeout in a row fails it (`render_timeout`)."
        ),
    )
    allow_javascript: bool = Field(
        default=False,
        validation_alias=AliasChoices("PDFPROMPT_ALLOW_JAVASCRIPT"),
        description="Run scripts in documents (Chromium only). Off: no script runs.",
    )
    print_check: bool = Field(
        default=True,
        validation_alias=AliasChoices("PDFPROMPT_PRINT_CHECK"),
        description="Check every new render for what printed badly (content past the page's "
        "edge, missing glyphs, blank pages, tiny text, broken images) and report it as job "
        "warnings; a prompt's model is then asked once to correct its document unless the "
        "job's `options.repair` is false (docs/prompts.md). The layout half is Chromium's.",
    )
    browser_recycle_after: int = Field(
        default=1000,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_BROWSER_RECYCLE_AFTER"),
        description=(
            "Renders before a browser is replaced; the renders still on it finish first "
            '(docs/render.md, "Recycling").'
        ),
    )
    browser_max_memory_mb: float = Field(
        default=1024.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_BROWSER_MAX_MEMORY_MB"),
        description=(
            "A browser whose processes use more MiB (proportional set size, checked between "
            "renders) is replaced once its renders are done: the gentle bound "
            '(docs/render.md, "Recycling").'
        ),
    )
    # The floor: much lower, what a browser holds while idle, plus any render, would get it
    # killed.
    render_memory_limit_mb: int = Field(
        default=2048,
        ge=256,
        validation_alias=AliasChoices("PDFPROMPT_RENDER_MEMORY_LIMIT_MB"),
        description=(
            "The hard bound, in MiB: while renders run on a browser, what its processes hold "
            "(resident anonymous and shared memory, summed) is watched, and over this the "
            "browser is killed and replaced; the render that grew it fails with "
            "`render_memory_exceeded` (retried once; a second time in a row fails the job) and "
            "the others on it are retried as after a crash. A WeasyPrint process gets this "
            'much address space (docs/render.md, "Render bombs").'
        ),
    )
    max_pages: int = Field(
        default=500,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_PAGES"),
        description=(
            "Longer documents fail with `page_limit_exceeded`; a plan's own limit applies "
            "under it. The renderer stops one page past the lower of the two."
        ),
    )
    max_pdf_mb: int = Field(
        default=200,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_PDF_MB"),
        description=(
            "The largest PDF a render may produce, in MiB, whatever the plan (a plan's "
            "`max_file_bytes` applies under it; `enterprise` has none): the PDF is read from "
            "the renderer in chunks and the render fails with `file_too_large` as soon as it "
            "passes the lower of the two."
        ),
    )

    @property
    def max_pdf_bytes(self) -> int:
        """`PDFPROMPT_MAX_PDF_MB` in bytes."""
        return self.max_pdf_mb * 1024 * 1024

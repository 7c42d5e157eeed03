"""A plan's limits on one job: the render stops at its page and byte limits and names the
plan when the document passed them, and the finished PDF is checked against them and the
plan's storage."""

from __future__ import annotations

from pdfprompt.domain import (
    FileTooLargeError,
    PageLimitExceededError,
    Plan,
    RenderOptions,
    StorageQuotaExceededError,
)
from pdfprompt.queue import JobContext
from pdfprompt.render import RenderedPdf, Renderer, Resources, render_pdf


async def render_within_plan(
    renderer: Renderer,
    document: str,
    options: RenderOptions,
    plan: Plan | None,
    resources: Resources | None = None,
) -> RenderedPdf:
    """The render, stopped at the plan's page and byte limits as well as the renderer's own;
    its limit errors name the plan when the plan's limit was the lower one, and so the one
    the document passed."""
    plan_pages = plan.max_pages if plan is not None else None
    plan_bytes = plan.max_file_bytes if plan is not None else None
    try:
        return await render_pdf(renderer, document, options, plan_pages, plan_bytes, resources)
    except PageLimitExceededError as exc:
        if plan is not None and (limit := _lower(plan_pages, renderer.max_pages)) is not None:
            raise PageLimitExceededError.over(limit, plan=plan.name) from exc
        raise
    except FileTooLargeError as exc:
        if plan is not None and (limit := _lower(plan_bytes, renderer.max_bytes)) is not None:
            raise FileTooLargeError.over(limit, plan=plan.name) from exc
        raise


def _lower(plan_limit: int | None, own_limit: int) -> int | None:
    """The plan's limit when it is lower than the renderer's own; else None."""
    return plan_limit if plan_limit is not None and plan_limit < own_limit else None


async def check_plan(ctx: JobContext, plan: Plan, rendered: RenderedPdf) -> None:
    """The plan's page, file size and storage limits (all permanent failures)."""
    if plan.max_pages is not None and rendered.pages > plan.max_pages:
        raise PageLimitExceededError.over(plan.max_pages, pages=rendered.pages, plan=plan.name)
    size = len(rendered.data)
    if plan.max_file_bytes is not None and size > plan.max_file_bytes:
        raise FileTooLargeError.over(plan.max_file_bytes, size=size, plan=plan.name)
    if plan.storage_bytes is not None:
        used = await ctx.store.storage_used(ctx.job.user_id)
        if used + size > plan.storage_bytes:
            raise StorageQuotaExceededError(
                f"storing this {size}-byte PDF would pass plan {plan.name}'s storage of "
                f"{plan.storage_bytes} bytes ({used} used); delete files to make room"
            )

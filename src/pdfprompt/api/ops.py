"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from pdfprompt.api.auth import Svc
from pdfprompt.api.errors import problem
from pdfprompt.domain import PdfPromptError

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: Svc) -> Response:
    checks: dict[str, Any] = {}
    try:
        async with svc.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        await svc.storage.check()
        checks["storage"] = "ok"
    except PdfPromptError as exc:
        checks["storage"] = f"unavailable: {exc.message}"
    if svc.renderer is not None:
        try:
            await svc.renderer.check()
            checks["renderer"] = f"ok ({svc.renderer.name})"
        except PdfPromptError as exc:
            checks["renderer"] = f"unavailable: {exc.message}"
    if svc.llm is not None:
        # Reported, not failing: a node without a usable key still renders HTML and Markdown.
        states = svc.llm.keys.states()
        checks["llm"] = "ok: " + ", ".join(f"{k} {v}" for k, v in states.items())
    failing = [name for name, state in checks.items() if not str(state).startswith("ok")]
    if failing:
        return problem("unavailable", f"not ready: {', '.join(failing)}", checks=checks)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics")
async def metrics(svc: Svc) -> Response:
    """Prometheus text. Queue depth counts queued and running rows on their partial
    indexes (cost follows the backlog, not the table); the rest are process counters."""
    try:
        svc.metrics.set_depth(await svc.jobs.queue_depth())
    except Exception as exc:  # still serve the process counters
        log.warning("queue depth unavailable for /metrics (%s)", exc)
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

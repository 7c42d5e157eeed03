"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from pdfprompt.api.auth import Svc
from pdfprompt.api.errors import problem
from pdfprompt.api.openapi import binary, problems
from pdfprompt.domain import PdfPromptError, UnauthorizedError

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=problems(503))
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


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: binary(CONTENT_TYPE_LATEST, "Prometheus text format"), **problems(401)},
)
async def metrics(request: Request, svc: Svc) -> Response:
    """Prometheus text. Queue depth counts queued and running rows on their partial
    indexes (cost follows the backlog, not the table); the rest are process counters.
    With `PDFPROMPT_METRICS_TOKEN` set, only for `Authorization: Bearer <that token>`."""
    token = svc.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not hmac.compare_digest(sent.encode(), token.get_secret_value().encode()):
            raise UnauthorizedError("metrics: send 'Authorization: Bearer <metrics token>'")
    try:
        svc.metrics.set_depth(await svc.jobs.queue_depth())
    except Exception as exc:  # still serve the process counters
        log.warning("queue depth unavailable for /metrics (%s)", exc)
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from pdfprompt.api.auth import Svc
from pdfprompt.api.errors import problem
from pdfprompt.domain import JobStatus, PdfPromptError

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
    failing = [name for name, state in checks.items() if not str(state).startswith("ok")]
    if failing:
        return problem("unavailable", f"not ready: {', '.join(failing)}", checks=checks)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics")
async def metrics(request: Request, svc: Svc) -> PlainTextResponse:
    counts = await svc.jobs.count_by_status()
    lines = [
        "# HELP pdfprompt_jobs Jobs in the table by status.",
        "# TYPE pdfprompt_jobs gauge",
    ]
    for status in JobStatus:
        lines.append(f'pdfprompt_jobs{{status="{status.value}"}} {counts.get(status.value, 0)}')
    if svc.worker is not None:
        lines += [
            "# HELP pdfprompt_worker_running_jobs Jobs this process is running.",
            "# TYPE pdfprompt_worker_running_jobs gauge",
            f"pdfprompt_worker_running_jobs {svc.worker.active_jobs}",
            "# HELP pdfprompt_worker_completed_total Jobs this process finished successfully.",
            "# TYPE pdfprompt_worker_completed_total counter",
            f"pdfprompt_worker_completed_total {svc.worker.completed}",
        ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

"""The FastAPI app factory: the HTTP API over the services the composition root builds."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from pdfprompt.api import (
    account,
    assets,
    batches,
    certificates,
    jobs,
    ops,
    shares,
    templates,
    webhooks,
)
from pdfprompt.api.errors import install_error_handlers
from pdfprompt.api.guard import RequestGuard
from pdfprompt.api.jobs import job_body_limit
from pdfprompt.api.openapi import install_openapi
from pdfprompt.api.request_ids import RequestIds
from pdfprompt.settings import Settings
from pdfprompt.wiring import running_services


def create_app(settings: Settings, *, with_worker: bool = False) -> FastAPI:
    """The HTTP API; with `with_worker`, the same process also runs jobs (embedded default)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, with_worker=with_worker) as svc:
            app.state.services = svc
            yield

    app = FastAPI(
        title="pdfprompt",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app)
    # The largest body any route takes: a job's, an asset's or a batch's (each route caps
    # its own).
    largest = max(
        job_body_limit(settings),
        assets.asset_body_limit(settings),
        settings.max_batch_bytes,
        certificates.certificate_body_limit(settings),
    )
    app.add_middleware(RequestGuard, max_body_bytes=largest)
    app.add_middleware(RequestIds)  # outside the guard: its refusals carry an id too
    app.include_router(ops.router)
    app.include_router(jobs.router)
    app.include_router(account.router)
    app.include_router(shares.router)
    app.include_router(webhooks.router)
    app.include_router(assets.router)
    app.include_router(batches.router)
    app.include_router(templates.router)
    app.include_router(certificates.router)
    return app

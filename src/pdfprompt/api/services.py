"""The services a route needs: the ones the composition root built for this process,
found on `app.state`."""

from __future__ import annotations

from fastapi import Request

from pdfprompt.wiring import Services


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc

"""`Authorization: Bearer pp_...` → the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pdfprompt.accounts import Principal
from pdfprompt.api.services import Services, services
from pdfprompt.domain import UnauthorizedError


async def principal(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>'")
    return await svc.accounts.authenticate(token)


Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]

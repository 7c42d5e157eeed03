"""`Authorization: Bearer pp_...` → the calling principal, with the scope the route needs and
the key's rate limit applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from pdfprompt.accounts import Principal
from pdfprompt.api.services import Services, services
from pdfprompt.domain import ForbiddenError, UnauthorizedError


async def principal(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>'")
    return await svc.accounts.authenticate(token)


def _scoped(scope: str) -> Callable[[Request, Services], Awaitable[Principal]]:
    async def check(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
        caller = await principal(request, svc)
        if scope not in caller.scopes:
            raise ForbiddenError(f"this API key does not have the {scope!r} scope")
        await svc.rate_limiter.hit(
            caller.key_id, svc.accounts.plan_of(caller).rate_limit_per_minute
        )
        return caller

    return check


JobWriter = Annotated[Principal, Depends(_scoped("jobs:write"))]
JobReader = Annotated[Principal, Depends(_scoped("jobs:read"))]
FileReader = Annotated[Principal, Depends(_scoped("files:read"))]
AccountHolder = Annotated[Principal, Depends(_scoped("account"))]
Svc = Annotated[Services, Depends(services)]

"""`Authorization: Bearer pp_...` → the calling principal, with the user's rate limit
applied and the scope the route needs checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from pdfprompt.accounts import Principal
from pdfprompt.api.services import services
from pdfprompt.domain import ForbiddenError, UnauthorizedError
from pdfprompt.wiring import Services

MAX_AUTHORIZATION_CHARS = 512


async def authenticated(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    """The caller, counted against their plan's requests per minute. Requests are counted
    per user, not per key: a user's keys share one limit. FastAPI runs this once per
    request, before any body is read (`api/body.py` depends on it)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>'")
    if len(token) > MAX_AUTHORIZATION_CHARS:
        raise UnauthorizedError("missing or invalid API key")
    caller = await svc.accounts.authenticate(token)
    limit = svc.accounts.plan_of(caller).rate_limit_per_minute
    await svc.rate_limiter.hit(f"user:{caller.user_id}", limit)
    return caller


def _scoped(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(caller: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if scope not in caller.scopes:
            raise ForbiddenError(f"this API key does not have the {scope!r} scope")
        return caller

    return check


JobWriter = Annotated[Principal, Depends(_scoped("jobs:write"))]
JobReader = Annotated[Principal, Depends(_scoped("jobs:read"))]
FileReader = Annotated[Principal, Depends(_scoped("files:read"))]
AccountHolder = Annotated[Principal, Depends(_scoped("account"))]
Svc = Annotated[Services, Depends(services)]

"""Share links: how long one may live on the caller's plan."""

from __future__ import annotations

from pdfprompt.accounts import Principal, Share
from pdfprompt.domain import InvalidInputError, Plan
from pdfprompt.wiring import Services

MAX_SHARE_EXPIRY_S = 365 * 86400


def longest_share_s(plan: Plan) -> int:
    """The longest a link may live: never past what the plan keeps files for."""
    if plan.retention_days is None:
        return MAX_SHARE_EXPIRY_S
    return min(MAX_SHARE_EXPIRY_S, plan.retention_days * 86400)


async def share_file(
    svc: Services,
    caller: Principal,
    file_id: str,
    *,
    expires_in_s: int,
    max_downloads: int | None,
) -> Share:
    """A public link to the caller's file (`NotFoundError` for another's); its token is in
    the answer only."""
    plan = svc.accounts.plan_of(caller)
    longest = longest_share_s(plan)
    if expires_in_s > longest:
        raise InvalidInputError(
            f"expires_in_s: at most {longest} on plan {plan.name}", field="expires_in_s"
        )
    return await svc.shares.create(
        caller.user_id, file_id, expires_in_s=expires_in_s, max_downloads=max_downloads
    )

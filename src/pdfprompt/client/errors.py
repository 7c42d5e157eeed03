"""What a call to a pdfprompt server can raise: `ApiError` for an answer that is an error
(one subclass per problem `code`), `NetworkError` when no answer came, `ProtocolError` for
an answer no pdfprompt server sends, `WaitTimeout` when a job or batch did not finish in the
time given. All are `ClientError`s."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DETAIL_CHARS = 300  # of a body that is not a problem (a proxy's HTML page)


class ClientError(Exception):
    """Every error the client raises."""


class NetworkError(ClientError):
    """The server could not be reached, or the connection broke before an answer (after the
    retries the call allows)."""


class ProtocolError(ClientError):
    """The answer is not what a pdfprompt server sends (a success that is not JSON, or one
    larger than the client reads): the URL names something else, or a proxy interferes."""


class WaitTimeout(ClientError):
    """`wait` or `wait_batch` gave up: the job or batch was not finished in time."""


class ApiError(ClientError):
    """The server answered with an error: its problem+json fields (`code` is the stable one
    to switch on; for an answer that is not a problem, e.g. a proxy's HTML 502, `code` is
    `http_<status>` and `detail` the start of the body)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        errors_total: int | None = None,
        retry_after_s: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}" if detail else f"{status} {code}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.errors = errors or []
        # The server lists at most 100 bad fields; `errors_total` counts them all.
        self.errors_total = errors_total if errors_total is not None else len(self.errors)
        self.retry_after_s = retry_after_s
        self.body = body or {}


class InvalidInput(ApiError):
    """422 `invalid_input` (or 400 for a body that is not JSON): `field` names the first bad
    field, `errors` lists every one where the server gives them."""


class Unauthorized(ApiError):
    """401: the key is missing, wrong, revoked or expired (or 403: it lacks the scope)."""


class NotFound(ApiError):
    """404: no such resource, or another user's."""


class Conflict(ApiError):
    """409: the resource is not in a state that allows this (e.g. deleting a running job)."""


class Gone(ApiError):
    """410: expired, revoked or used up."""


class PayloadTooLarge(ApiError):
    """413: the body is larger than the server takes."""


class QuotaExceeded(ApiError):
    """429 `quota_exceeded`: the month's PDFs (or the plan's storage) are used up. Not
    retried: waiting seconds does not cure it."""


class RateLimited(ApiError):
    """429 `rate_limited`, raised once the retries are spent; `retry_after_s` says when."""


class Unavailable(ApiError):
    """503 `unavailable`, raised once the retries are spent."""


BY_CODE: dict[str, type[ApiError]] = {
    "invalid_input": InvalidInput,
    "unauthorized": Unauthorized,
    "forbidden": Unauthorized,
    "not_found": NotFound,
    "conflict": Conflict,
    "gone": Gone,
    "payload_too_large": PayloadTooLarge,
    "quota_exceeded": QuotaExceeded,
    "rate_limited": RateLimited,
    "unavailable": Unavailable,
}
BY_STATUS: dict[int, str] = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    422: "invalid_input",
    429: "rate_limited",
    503: "unavailable",
}


def api_error(
    status: int, content_type: str, body: bytes, retry_after_s: float | None = None
) -> ApiError:
    """The exception for an error answer: from its problem+json when it is one, else a
    clean one from the status and the start of the body."""
    problem: dict[str, Any] | None = None
    if "json" in content_type.lower():
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            problem = parsed
    if problem is None:
        text = body[:4096].decode("utf-8", "replace")
        if "html" in content_type.lower():
            text = re.sub(r"<[^>]*>", " ", text)  # the words of a proxy's error page
        text = " ".join(text.split())
        code = BY_STATUS.get(status, f"http_{status}")
        detail = text[:MAX_DETAIL_CHARS] or f"the server answered {status} with no body"
        return BY_CODE.get(code, ApiError)(
            status, code, _title(code), detail, retry_after_s=retry_after_s
        )
    code = _text(problem.get("code")) or BY_STATUS.get(status, f"http_{status}")
    errors = problem.get("errors")
    total = problem.get("errors_total")
    return BY_CODE.get(code, ApiError)(
        status,
        code,
        _text(problem.get("title")) or _title(code),
        _text(problem.get("detail")),
        field=_text(problem.get("field")) or None,
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
        errors_total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        retry_after_s=retry_after_s,
        body=problem,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()

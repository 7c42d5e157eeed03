"""The HTTP status and title of each error code, for the API's problem+json and the pages
alike."""

from __future__ import annotations

from pdfprompt.domain import MalformedBodyError, PdfPromptError

STATUS_BY_CODE = {
    "invalid_input": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "gone": 410,
    "payload_too_large": 413,
    "quota_exceeded": 429,
    "rate_limited": 429,
    "unavailable": 503,
    "template_error": 422,
    "template_timeout": 422,
}
TITLES = {
    "invalid_input": "Invalid input",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "conflict": "Conflict",
    "gone": "Gone",
    "payload_too_large": "Payload too large",
    "quota_exceeded": "Quota exceeded",
    "rate_limited": "Rate limited",
    "unavailable": "Service unavailable",
    "template_error": "Template error",
    "template_timeout": "Template timeout",
    "method_not_allowed": "Method not allowed",
    "internal": "Internal error",
}


def status_of(exc: PdfPromptError) -> int:
    """The HTTP status an error is answered with (500 for one no code maps)."""
    if isinstance(exc, MalformedBodyError):
        return 400
    return STATUS_BY_CODE.get(exc.code, 500)

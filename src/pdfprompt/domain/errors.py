"""The error tree. Every error the service raises on purpose is a `PdfPromptError`.

`transient` says whether retrying the same work may succeed; the worker decides
between retry and failure from this flag alone, never from message text.
"""

from __future__ import annotations

from typing import Any, Self


class PdfPromptError(Exception):
    """Root of every error pdfprompt raises on purpose."""

    code: str = "internal"
    transient: bool = False

    def __init__(
        self, message: str, *, field: str | None = None, transient: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if transient is not None:  # this occurrence decides, not the class
            self.transient = transient

    def __reduce__(self) -> tuple[Any, ...]:
        # Survives pickling (errors raised in a render process) with every attribute
        # (field, transient, a subclass's own), whatever arguments a subclass's __init__ takes.
        return (_restore, (type(self), self.args), self.__dict__)


def _restore(cls: type[PdfPromptError], args: tuple[Any, ...]) -> PdfPromptError:
    """An error rebuilt without calling its __init__; pickle then sets its attributes."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error


class InvalidInputError(PdfPromptError):
    """The request or document is malformed; retrying cannot help."""

    code = "invalid_input"


class MalformedBodyError(InvalidInputError):
    """The request body is not JSON within the limits (syntax, encoding, nesting, number
    length): a 400, where a well-formed body with a bad value is a 422."""


class PayloadTooLargeError(PdfPromptError):
    """The request body or the document input is over its byte limit."""

    code = "payload_too_large"


class NotFoundError(PdfPromptError):
    """The resource does not exist or belongs to another user."""

    code = "not_found"


class UnauthorizedError(PdfPromptError):
    """No API key, an unknown key, a revoked key or a disabled user."""

    code = "unauthorized"


class ForbiddenError(PdfPromptError):
    """The key is valid but lacks the scope this operation needs."""

    code = "forbidden"


class QuotaExceededError(PdfPromptError):
    """The plan's PDFs for this period are used up (or reserved by jobs in flight)."""

    code = "quota_exceeded"

    def __init__(self, message: str, *, reset_at: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.reset_at = reset_at
        self.retry_after_s = retry_after_s


class RateLimitedError(PdfPromptError):
    """The key sent more requests this minute than its plan allows."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class FileTooLargeError(PdfPromptError):
    """The PDF is larger than the plan or the server allows (the render stops reading it as
    soon as it passes the limit)."""

    code = "file_too_large"

    @classmethod
    def over(cls, limit: int, *, size: int | None = None, plan: str | None = None) -> Self:
        """The error for a PDF over `limit` bytes: of `size` bytes where its size is known (a
        render stops reading at the limit, so it knows only that the PDF is larger), and
        naming `plan` when the limit is that plan's."""
        told = f"is {size}" if size is not None else f"is larger than {limit}"
        return cls(f"the PDF {told} bytes; {_limit(limit, plan)}")


class StorageQuotaExceededError(PdfPromptError):
    """Storing the PDF would pass the plan's storage quota."""

    code = "storage_quota_exceeded"


class GoneError(PdfPromptError):
    """The resource existed and is no longer served (an expired, revoked or used-up link)."""

    code = "gone"


class ConflictError(PdfPromptError):
    """The resource is in a state that does not allow the operation."""

    code = "conflict"


class DuplicateJobError(ConflictError):
    """A job with the same idempotency key already exists for this user."""

    def __init__(self, message: str, *, existing_job_id: str) -> None:
        super().__init__(message)
        self.existing_job_id = existing_job_id


class UnavailableError(PdfPromptError):
    """A dependency (database, renderer, storage) cannot serve right now."""

    code = "unavailable"
    transient = True


class RenderError(PdfPromptError):
    """The renderer failed on a document; transient unless a subclass says otherwise."""

    code = "render_failed"
    transient = True


class RenderTimeoutError(RenderError):
    """The render passed its time limit."""

    code = "render_timeout"


class RenderMemoryExceededError(RenderError):
    """The render's browser (or WeasyPrint process) passed its memory limit and was stopped.
    Transient the first time; a second one in a row is permanent (`PERMANENT_WHEN_REPEATED`)."""

    code = "render_memory_exceeded"


class RenderRefusedError(RenderError):
    """The renderer refuses this document with these options, the same way on every try
    (an error the engine raises on the input, not a crash): retrying cannot help."""

    code = "render_refused"
    transient = False


class BrowserUnavailableError(RenderError):
    """No browser could be started or the browser disconnected mid-render."""

    code = "browser_unavailable"


class PageLimitExceededError(RenderError):
    """The document has more pages than allowed."""

    code = "page_limit_exceeded"
    transient = False

    @classmethod
    def over(cls, limit: int, *, pages: int | None = None, plan: str | None = None) -> Self:
        """The error for a document over `limit` pages: of `pages` pages where its length is
        known (both engines stop one page past the limit, so a render knows only that it is
        longer), and naming `plan` when the limit is that plan's."""
        told = f"{pages}" if pages is not None else f"more than {limit}"
        return cls(f"the document has {told} pages; {_limit(limit, plan)}")


def _limit(limit: int, plan: str | None) -> str:
    return f"plan {plan} allows {limit}" if plan is not None else f"the limit is {limit}"


class UrlRefusedError(PdfPromptError):
    """A URL job's page may not be loaded: its address, a redirect's, or what its host
    resolves to is not allowed (`PDFPROMPT_URL_ALLOW`, special-purpose addresses); retrying
    cannot help."""

    code = "url_refused"


class UrlUnreachableError(PdfPromptError):
    """A URL job's page could not be fetched (no answer, a connection refused, an error
    status); retried like any transient failure."""

    code = "url_unreachable"
    transient = True


class LlmError(PdfPromptError):
    """No model gave a usable document (network errors, 5xx, empty or non-HTML answers)."""

    code = "llm_failed"
    transient = True


class LlmKeysCoolingError(LlmError):
    """Every LLM key is cooling down (rate limited) or quarantined: the job waits until the
    first key is free (`retry_after_s`) without using up an attempt."""

    code = "llm_keys_cooling"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageError(PdfPromptError):
    """The storage backend failed to keep or return an object."""

    code = "storage_failed"
    transient = True


class LeaseLostError(PdfPromptError):
    """The worker no longer owns the job (lease expired, job cancelled or taken over)."""

    code = "lease_lost"


class TemplateRenderError(PdfPromptError):
    """A template could not be filled with its data (an error in the template at a line, an
    operation the sandbox refuses, output or memory past its limit): the same every time."""

    code = "template_error"


class TemplateTimeoutError(PdfPromptError):
    """Filling a template took longer than its time limit and was stopped."""

    code = "template_timeout"


class DataInvalidError(InvalidInputError):
    """Data that does not fit a template's JSON Schema: `errors` lists every bad field
    (`{"field": JSON pointer, "message"}`, capped), `total` counts them all."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        total: int = 0,
    ) -> None:
        super().__init__(message, field=field)
        self.errors = errors or []
        self.total = total

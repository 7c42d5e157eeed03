"""The Python client of a pdfprompt server: `Client` (blocking) and `AsyncClient`
(asyncio), the values they answer with and the errors they raise. It imports nothing else of
the package (import-linter checks it), so a program that calls a server needs only httpx.
See docs/client.md."""

from pdfprompt.client.aio import AsyncClient
from pdfprompt.client.core import Retries, new_idempotency_key
from pdfprompt.client.errors import (
    ApiError,
    ClientError,
    Conflict,
    Gone,
    InvalidInput,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    QuotaExceeded,
    RateLimited,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from pdfprompt.client.models import (
    ApiKey,
    Asset,
    Batch,
    BatchCounts,
    BatchRef,
    FileInfo,
    Job,
    JobError,
    JobWarning,
    Page,
    Share,
    Template,
    TemplateRef,
    TemplateVersion,
    Usage,
    Webhook,
)
from pdfprompt.client.sync import Client

__all__ = [
    "ApiError",
    "ApiKey",
    "Asset",
    "AsyncClient",
    "Batch",
    "BatchCounts",
    "BatchRef",
    "Client",
    "ClientError",
    "Conflict",
    "FileInfo",
    "Gone",
    "InvalidInput",
    "Job",
    "JobError",
    "JobWarning",
    "NetworkError",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "ProtocolError",
    "QuotaExceeded",
    "RateLimited",
    "Retries",
    "Share",
    "Template",
    "TemplateRef",
    "TemplateVersion",
    "Unauthorized",
    "Unavailable",
    "Usage",
    "WaitTimeout",
    "Webhook",
    "new_idempotency_key",
]

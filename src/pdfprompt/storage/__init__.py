"""Where PDFs are kept: the `Storage` protocol and its backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from pdfprompt.domain import InvalidInputError
from pdfprompt.settings import Settings
from pdfprompt.storage.local import LocalStorage
from pdfprompt.storage.s3 import S3Storage


class Storage(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def size(self, key: str) -> int: ...

    async def read(self, key: str) -> bytes: ...

    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Every stored object as (key, Unix time it was last written)."""
        ...

    async def check(self) -> None: ...

    async def presigned_url(
        self, key: str, *, expires_s: int, filename: str, content_type: str
    ) -> str | None:
        """A URL that serves the object to anyone for `expires_s`, with these download
        headers; None when the backend has no such URLs."""
        ...


def storage_from_settings(settings: Settings) -> Storage:
    url = settings.effective_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidInputError(
                "PDFPROMPT_STORAGE_URL: s3:// needs a bucket (s3://bucket/prefix)"
            )
        return S3Storage(
            parsed.netloc,
            unquote(parsed.path),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    raise InvalidInputError(
        f"PDFPROMPT_STORAGE_URL: unsupported scheme {parsed.scheme!r} "
        "(use file:///path or s3://bucket/prefix)"
    )


__all__ = ["LocalStorage", "S3Storage", "Storage", "storage_from_settings"]

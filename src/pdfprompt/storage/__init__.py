"""Where PDFs are kept: the `Storage` protocol and its backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from pdfprompt.domain import InvalidInputError
from pdfprompt.settings import Settings
from pdfprompt.storage.local import LocalStorage


class Storage(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def size(self, key: str) -> int: ...

    async def read(self, key: str) -> bytes: ...

    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def check(self) -> None: ...


def storage_from_settings(settings: Settings) -> Storage:
    url = settings.effective_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    raise InvalidInputError(
        f"PDFPROMPT_STORAGE_URL: unsupported scheme {parsed.scheme!r} (use file:///path)"
    )


__all__ = ["LocalStorage", "Storage", "storage_from_settings"]

"""Files on a local (or shared) file system, written atomically."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from pdfprompt.domain import NotFoundError, StorageError

CHUNK_BYTES = 256 * 1024


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """Objects as files under `root`; a write goes to a temporary name, then is renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or any(p in ("..", "/", "") for p in parts) or key.startswith("/"):
            raise StorageError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            # Directories this write creates, whose names must reach the disk as well.
            new_dirs: list[Path] = []
            missing = path.parent
            while not missing.exists():
                new_dirs.append(missing)
                missing = missing.parent
            # Owner only: the files are users' documents (and the directories their ids).
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            # The rename is on disk only once its directory is (and a new directory once its
            # parent is): a crash must not leave a job marked succeeded whose PDF's name was
            # lost.
            for directory in (path.parent, *(d.parent for d in new_dirs)):
                _fsync_directory(directory)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                tmp.unlink(missing_ok=True)
            raise StorageError(f"could not write {path.name}: {exc.strerror}") from exc

    async def size(self, key: str) -> int:
        try:
            return (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError as exc:
            raise NotFoundError(f"file {key} is gone from storage") from exc

    async def read(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as exc:
            raise NotFoundError(f"file {key} is gone from storage") from exc

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes from `start` to `end` (inclusive), read in chunks off the event loop."""
        path = self._path(key)
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"file {key} is gone from storage") from exc
        try:
            await asyncio.to_thread(fh.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
                chunk = await asyncio.to_thread(fh.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            fh.close()

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Every file under the root, temporary ones of interrupted writes included."""

        def walk() -> list[tuple[str, float]]:
            found = []
            for path in self.root.rglob("*"):
                with contextlib.suppress(OSError):
                    if path.is_file():
                        found.append((path.relative_to(self.root).as_posix(), path.stat().st_mtime))
            return found

        if not self.root.exists():
            return
        for item in await asyncio.to_thread(walk):
            yield item

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def presigned_url(
        self, key: str, *, expires_s: int, filename: str, content_type: str
    ) -> str | None:
        return None  # files are served through the API

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"storage directory unusable: {exc.strerror}") from exc

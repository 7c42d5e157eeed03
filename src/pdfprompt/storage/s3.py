"""Objects in any S3-compatible store (AWS S3, MinIO, Ceph, R2, …).

`PDFPROMPT_STORAGE_URL=s3://bucket/prefix`, `PDFPROMPT_S3_ENDPOINT_URL` for stores other
than AWS, credentials from the standard AWS variables (or instance roles). An object
appears whole or not at all (a PUT is atomic), so no half-written file is ever served.
boto3 is synchronous: every call runs on a worker thread, never on the event loop, and
downloads stream in chunks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

from pdfprompt.domain import NotFoundError, StorageError

CHUNK_BYTES = 256 * 1024


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    config=Config(
                        signature_version="s3v4",
                        retries={"max_attempts": 3, "mode": "standard"},
                        connect_timeout=5,
                        read_timeout=30,
                        max_pool_connections=32,
                    ),
                )
            return self._client

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid storage key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, what: str, key: str, method: str, **kw: Any) -> Any:
        def call() -> Any:
            return getattr(self._s3(), method)(Bucket=self.bucket, **kw)

        try:
            return await asyncio.to_thread(call)
        except Exception as exc:
            if _missing(exc):
                raise NotFoundError(f"file {key} is gone from storage") from exc
            raise StorageError(f"could not {what} {key}: {exc}") from exc

    async def put(self, key: str, data: bytes) -> None:
        await self._call(
            "write",
            key,
            "put_object",
            Key=self._key(key),
            Body=data,
            ContentType="application/pdf" if key.endswith(".pdf") else "application/octet-stream",
        )

    async def size(self, key: str) -> int:
        head = await self._call("read", key, "head_object", Key=self._key(key))
        return int(head["ContentLength"])

    async def read(self, key: str) -> bytes:
        got = await self._call("read", key, "get_object", Key=self._key(key))
        data: bytes = await asyncio.to_thread(got["Body"].read)
        return data

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes from `start` to `end` (inclusive), as the store sends them."""
        wanted = f"bytes={start}-{'' if end is None else end}"
        extra = {} if start == 0 and end is None else {"Range": wanted}
        got = await self._call("read", key, "get_object", Key=self._key(key), **extra)
        body = got["Body"]
        chunks = body.iter_chunks(CHUNK_BYTES)
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, b"")
                if not chunk:
                    break
                yield chunk
        finally:
            await asyncio.to_thread(body.close)

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Every object under the prefix, a page (up to 1,000) at a time."""
        start = f"{self.prefix}/" if self.prefix else ""
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"Prefix": start}
            if token:
                extra["ContinuationToken"] = token
            page = await self._call("list", start or "/", "list_objects_v2", **extra)
            for item in page.get("Contents", []):
                yield item["Key"][len(start) :], item["LastModified"].timestamp()
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def delete(self, key: str) -> None:
        await self._call("delete", key, "delete_object", Key=self._key(key))

    async def presigned_url(
        self, key: str, *, expires_s: int, filename: str, content_type: str
    ) -> str | None:
        """A SigV4 presigned GET (computed locally, no request to the store); S3 answers it
        with the given Content-Disposition and Content-Type, and honours ranges."""

        def presign() -> str:
            url: str = self._s3().generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self._key(key),
                    "ResponseContentDisposition": filename,
                    "ResponseContentType": content_type,
                },
                ExpiresIn=expires_s,
            )
            return url

        return await asyncio.to_thread(presign)

    async def check(self) -> None:
        try:
            await self._call("reach", self.bucket, "head_bucket")
        except NotFoundError as exc:
            raise StorageError(f"bucket {self.bucket} does not exist") from exc

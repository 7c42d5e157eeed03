"""A user's assets: upload (checked from the bytes, counted in the plan's storage), replace,
delete, and remove every one of a person who goes. The bytes go to storage before the row
that points to them, and a row's old bytes are removed only after it stopped pointing to
them, so a failure part way leaves at worst an object nothing points to (which the orphan
sweep removes), never a row without its bytes."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from pdfprompt.domain import (
    Asset,
    InvalidInputError,
    PayloadTooLargeError,
    Plan,
    StorageFullError,
    new_asset_id,
    new_id,
)
from pdfprompt.wiring import Services

log = logging.getLogger(__name__)


def asset_limit(svc: Services, plan: Plan) -> int:
    """The largest asset this plan may upload: the server's `PDFPROMPT_MAX_ASSET_MB`, or the
    plan's `max_file_bytes` when lower."""
    limit = svc.settings.max_asset_bytes
    if plan.max_file_bytes is not None:
        limit = min(limit, plan.max_file_bytes)
    return limit


def asset_key(user_id: str) -> str:
    """A new storage key for an asset's bytes (each upload and replacement its own)."""
    return f"assets/{user_id}/{new_id()}"


async def upload_asset(
    svc: Services,
    user_id: str,
    plan: Plan,
    *,
    name: str,
    data: bytes,
    replace: bool = False,
    idempotency_key: str | None = None,
) -> tuple[Asset, bool]:
    """Keep the upload as the user's asset `name` (already checked): the asset and whether
    it is new (False: the asset an earlier upload with the same `idempotency_key` made).
    `InvalidInputError` (field `file`) for bytes that are not an accepted image or font,
    `PayloadTooLargeError` over the plan's or server's limit, `StorageFullError` past the
    plan's storage, `ConflictError` for a name in use unless `replace`."""
    if idempotency_key is not None:
        earlier = await svc.assets.made_with(user_id, idempotency_key)
        if earlier is not None:
            return earlier, False
    limit = asset_limit(svc, plan)
    if len(data) > limit:
        raise PayloadTooLargeError(f"file: over the limit of {limit} bytes", field="file")
    if not data:
        raise InvalidInputError("file: empty", field="file")
    assert svc.assets.inspect is not None, "the composition root gives the asset check"
    inspected = await asyncio.to_thread(svc.assets.inspect, data)
    stored = inspected.data
    if plan.storage_bytes is not None:
        used = await svc.jobs.storage_used(user_id)
        if replace:  # the bytes replaced make room
            used -= sum(a.size_bytes for a in await svc.assets.find(user_id, [name]))
        if used + len(stored) > plan.storage_bytes:
            raise StorageFullError(
                f"keeping this {len(stored)}-byte asset would pass plan {plan.name}'s storage "
                f"of {plan.storage_bytes} bytes ({used} used); delete files or assets to "
                "make room"
            )
    key = asset_key(user_id)
    sha256 = hashlib.sha256(stored).hexdigest()
    content_type, kind, size = inspected.content_type, inspected.kind, len(stored)
    await svc.storage.put(key, stored)
    try:
        if replace:
            moved = await svc.assets.replace(
                user_id,
                name,
                content_type=content_type,
                kind=kind,
                size_bytes=size,
                sha256=sha256,
                storage_key=key,
            )
            if moved is not None:
                asset, old_key = moved
                await _discard(svc, old_key)
                return asset, True
        asset = await svc.assets.add(
            user_id,
            new_asset_id(),
            name=name,
            content_type=content_type,
            kind=kind,
            size_bytes=size,
            sha256=sha256,
            storage_key=key,
            idempotency_key=idempotency_key,
        )
    except BaseException:
        await _discard(svc, key)
        raise
    return asset, True


async def delete_asset(svc: Services, user_id: str, asset_id: str) -> None:
    """Delete the user's asset and its bytes; `NotFoundError` for anyone else's."""
    await _discard(svc, await svc.assets.delete(user_id, asset_id))


async def delete_user_assets(svc: Services, user_id: str) -> None:
    """Every asset of the user, in batches, with their bytes."""
    while keys := await svc.assets.delete_user_assets(user_id):
        for key in keys:
            await _discard(svc, key)


async def _discard(svc: Services, key: str) -> None:
    try:
        await svc.storage.delete(key)
    except Exception as exc:
        log.warning("could not remove stored asset %s (%s); the orphan sweep will", key, exc)

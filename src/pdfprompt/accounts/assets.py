"""A user's assets: the rows that name their uploaded images and fonts (the bytes are in
storage, under each row's `storage_key`; `actions.assets` writes and removes them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import assets, conflict_on_duplicate, db_now, write_transaction
from pdfprompt.domain import Asset, ConflictError, NotFoundError

_COLUMNS = (
    assets.c.id,
    assets.c.name,
    assets.c.content_type,
    assets.c.kind,
    assets.c.size_bytes,
    assets.c.sha256,
    assets.c.storage_key,
    assets.c.created_at,
    assets.c.updated_at,
)


def _asset(row: Any) -> Asset:
    return Asset(
        id=row.id,
        name=row.name,
        content_type=row.content_type,
        kind=row.kind,
        size_bytes=int(row.size_bytes),
        sha256=row.sha256,
        storage_key=row.storage_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class AssetStore:
    """The rows of users' assets. `inspect` checks an upload's bytes (built by the
    composition root: `generate.inspect_asset`), so that the rooms that take uploads use
    one check without importing it."""

    def __init__(self, engine: AsyncEngine, inspect: Callable[[bytes], Any] | None = None) -> None:
        self.engine = engine
        self.inspect = inspect

    async def add(
        self,
        user_id: str,
        asset_id: str,
        *,
        name: str,
        content_type: str,
        kind: str,
        size_bytes: int,
        sha256: str,
        storage_key: str,
        idempotency_key: str | None = None,
    ) -> Asset:
        """A new asset row; `ConflictError` when the user has one of that name (or, in a
        race, one made with the same `idempotency_key`)."""
        values = {
            "id": asset_id,
            "user_id": user_id,
            "name": name,
            "content_type": content_type,
            "kind": kind,
            "size_bytes": size_bytes,
            "sha256": sha256,
            "storage_key": storage_key,
            "idempotency_key": idempotency_key,
        }
        said = f"name: an asset named {name!r} exists (replace=true replaces it)"
        try:
            with conflict_on_duplicate(said):
                async with write_transaction(self.engine) as conn:
                    made = insert(assets).values(values).returning(*_COLUMNS)
                    row = (await conn.execute(made)).one()
        except ConflictError as exc:
            raise ConflictError(exc.message, field="name") from exc
        return _asset(row)

    async def replace(
        self,
        user_id: str,
        name: str,
        *,
        content_type: str,
        kind: str,
        size_bytes: int,
        sha256: str,
        storage_key: str,
    ) -> tuple[Asset, str] | None:
        """The user's asset of that name moved to new bytes (same id), and the storage key it
        had; None when they have none of that name."""
        async with write_transaction(self.engine) as conn:
            old = (
                await conn.execute(
                    select(assets.c.storage_key).where(
                        assets.c.user_id == user_id, assets.c.name == name
                    )
                )
            ).first()
            if old is None:
                return None
            row = (
                await conn.execute(
                    update(assets)
                    .where(assets.c.user_id == user_id, assets.c.name == name)
                    .values(
                        content_type=content_type,
                        kind=kind,
                        size_bytes=size_bytes,
                        sha256=sha256,
                        storage_key=storage_key,
                        updated_at=db_now(),
                    )
                    .returning(*_COLUMNS)
                )
            ).one()
        return _asset(row), str(old.storage_key)

    async def made_with(self, user_id: str, idempotency_key: str) -> Asset | None:
        """The user's asset uploaded with this `Idempotency-Key`, if any."""
        query = select(*_COLUMNS).where(
            assets.c.user_id == user_id, assets.c.idempotency_key == idempotency_key
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _asset(row)

    async def get(self, user_id: str, asset_id: str) -> Asset:
        """The user's asset; `NotFoundError` for an unknown id or another user's."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_COLUMNS).where(assets.c.id == asset_id, assets.c.user_id == user_id)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"asset {asset_id} not found")
        return _asset(row)

    async def list_assets(self, user_id: str, *, limit: int, cursor: str | None) -> list[Asset]:
        """The user's assets newest first, after `cursor` (the last id of the previous page)."""
        query = select(*_COLUMNS).where(assets.c.user_id == user_id)
        if cursor is not None:
            query = query.where(assets.c.id < cursor)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(assets.c.id.desc()).limit(limit))).all()
        return [_asset(r) for r in rows]

    async def find(self, user_id: str, references: Sequence[str]) -> list[Asset]:
        """The user's assets that these ids or names name (each reference may be either)."""
        if not references:
            return []
        wanted = list(references)
        query = select(*_COLUMNS).where(
            assets.c.user_id == user_id,
            or_(assets.c.id.in_(wanted), assets.c.name.in_(wanted)),
        )
        async with self.engine.connect() as conn:
            return [_asset(r) for r in (await conn.execute(query)).all()]

    async def delete(self, user_id: str, asset_id: str) -> str:
        """Delete the user's asset row; the storage key its bytes are under, to remove once
        this committed. `NotFoundError` for an unknown id or another user's."""
        async with write_transaction(self.engine) as conn:
            row = (
                await conn.execute(
                    delete(assets)
                    .where(assets.c.id == asset_id, assets.c.user_id == user_id)
                    .returning(assets.c.storage_key)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"asset {asset_id} not found")
        return str(row.storage_key)

    async def delete_user_assets(self, user_id: str, *, limit: int = 500) -> list[str]:
        """Delete up to `limit` of the user's asset rows; their storage keys."""
        some = select(assets.c.id).where(assets.c.user_id == user_id).limit(limit)
        async with write_transaction(self.engine) as conn:
            rows = (
                await conn.execute(
                    delete(assets)
                    .where(assets.c.id.in_(some.scalar_subquery()))
                    .returning(assets.c.storage_key)
                )
            ).all()
        return [str(r.storage_key) for r in rows]

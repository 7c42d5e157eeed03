"""The templates a user keeps: named, with immutable versions. Checking what is saved (the
body compiles, the schema is usable) is the caller's; this keeps it.

A job copies what it needs of a version when it is queued (`template_input`), so deleting a
template deletes its versions at once: no queued job depends on them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdfprompt.db import (
    conflict_on_duplicate,
    db_now,
    jobs,
    template_versions,
    templates,
    write_transaction,
)
from pdfprompt.domain import (
    ConflictError,
    NotFoundError,
    Template,
    TemplateEngine,
    TemplateRef,
    TemplateSummary,
    new_id,
)

MAX_TEMPLATES_PER_USER = 1000
_t, _v = templates.c, template_versions.c
_COLUMNS = (
    _t.id,
    _t.user_id,
    _t.name,
    _t.engine,
    _v.version,
    _t.latest_version,
    _v.body,
    _v.schema,
    _v.sample_data,
    _v.options,
    _t.created_at,
    _t.updated_at,
    _v.created_at.label("version_created_at"),
)


@dataclass(frozen=True, slots=True)
class TemplateContent:
    """What one version holds."""

    name: str
    engine: TemplateEngine
    body: str
    schema: dict[str, Any] | None
    sample_data: Any
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    created_at: datetime


def _template(row: Any) -> Template:
    values = dict(row._mapping)
    values["engine"] = TemplateEngine(values["engine"])
    values["options"] = values["options"] or {}
    return Template(**values)


def _summary(row: Any) -> TemplateSummary:
    values = dict(row._mapping)
    values["engine"] = TemplateEngine(values["engine"])
    return TemplateSummary(**values)


def _name_taken(name: str) -> str:
    return f"a template named {name!r} already exists; choose another name or update it"


class TemplateStore:
    """A user's templates and their versions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self, user_id: str, content: TemplateContent, idempotency_key: str | None = None
    ) -> tuple[Template, bool]:
        """A new template at version 1, and True (`ConflictError` when its name is taken).
        With an `idempotency_key` that made a template before: that template (its latest
        version), and False."""
        if idempotency_key is not None:
            earlier = await self.created_before(user_id, idempotency_key)
            if earlier is not None:
                return earlier, False
        template_id = "tpl_" + new_id()
        try:
            await self._create(user_id, template_id, content, idempotency_key)
        except ConflictError:
            if idempotency_key is not None:  # the same key, at the same moment
                earlier = await self.created_before(user_id, idempotency_key)
                if earlier is not None:
                    return earlier, False
            raise
        return await self.get(user_id, template_id), True

    async def created_before(self, user_id: str, idempotency_key: str) -> Template | None:
        """The template a create with this key made (None: none did)."""
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(_t.id).where(
                        _t.user_id == user_id, _t.idempotency_key == idempotency_key
                    )
                )
            ).scalar_one_or_none()
        return None if found is None else await self.get(user_id, found)

    async def _create(
        self,
        user_id: str,
        template_id: str,
        content: TemplateContent,
        idempotency_key: str | None,
    ) -> None:
        with conflict_on_duplicate(_name_taken(content.name)):
            async with write_transaction(self.engine) as conn:
                count = (
                    await conn.execute(
                        select(func.count()).select_from(templates).where(_t.user_id == user_id)
                    )
                ).scalar_one()
                if count >= MAX_TEMPLATES_PER_USER:
                    raise ConflictError(
                        f"at most {MAX_TEMPLATES_PER_USER} templates per user; delete one first"
                    )
                await conn.execute(
                    insert(templates).values(
                        id=template_id,
                        user_id=user_id,
                        name=content.name,
                        engine=content.engine.value,
                        latest_version=1,
                        idempotency_key=idempotency_key,
                    )
                )
                await self._insert_version(conn, template_id, 1, content)

    async def add_version(
        self, user_id: str, template_id: str, content: TemplateContent
    ) -> Template:
        """The template's next version (its name and engine may change with it)."""
        with conflict_on_duplicate(_name_taken(content.name)):
            async with write_transaction(self.engine) as conn:
                latest = (
                    await conn.execute(
                        update(templates)
                        .where(_t.id == template_id, _t.user_id == user_id)
                        .values(
                            latest_version=_t.latest_version + 1,
                            name=content.name,
                            engine=content.engine.value,
                            updated_at=db_now(),
                        )
                        .returning(_t.latest_version)
                    )
                ).scalar_one_or_none()
                if latest is None:
                    raise NotFoundError(f"template {template_id} not found")
                await self._insert_version(conn, template_id, latest, content)
        return await self.get(user_id, template_id)

    @staticmethod
    async def _insert_version(
        conn: AsyncConnection, template_id: str, version: int, content: TemplateContent
    ) -> None:
        await conn.execute(
            insert(template_versions).values(
                template_id=template_id,
                version=version,
                body=content.body,
                schema=content.schema,
                sample_data=content.sample_data,
                options=content.options,
            )
        )

    async def get(self, user_id: str, template_id: str, version: int | None = None) -> Template:
        """The template at `version` (None: its latest); `NotFoundError` otherwise."""
        return await self._one(user_id, _t.id == template_id, version, template_id)

    async def find(self, user_id: str, ref: TemplateRef) -> Template:
        """The template a job names (by id or name, at a version or its latest)."""
        condition = _t.id == ref.id if ref.id is not None else _t.name == ref.name
        return await self._one(user_id, condition, ref.version, ref.id or repr(ref.name))

    async def _one(self, user_id: str, condition: Any, version: int | None, shown: str) -> Template:
        wanted = _v.version == (_t.latest_version if version is None else version)
        query = (
            select(*_COLUMNS)
            .select_from(templates.join(template_versions, _v.template_id == _t.id))
            .where(_t.user_id == user_id, condition, wanted)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            at = f" version {version}" if version is not None else ""
            raise NotFoundError(f"template {shown}{at} not found")
        return _template(row)

    async def list_templates(
        self, user_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[TemplateSummary], str | None]:
        """Newest first; the cursor is the last id of the previous page."""
        query = (
            select(_t.id, _t.name, _t.engine, _t.latest_version, _t.created_at, _t.updated_at)
            .where(_t.user_id == user_id)
            .order_by(_t.id.desc())
            .limit(limit + 1)
        )
        if cursor is not None:
            query = query.where(_t.id < cursor)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_summary(r) for r in rows[:limit]]
        return items, items[-1].id if len(rows) > limit else None

    async def list_versions(
        self, user_id: str, template_id: str, *, limit: int, cursor: int | None = None
    ) -> tuple[list[VersionInfo], int | None]:
        """Newest first; the cursor is the last version of the previous page."""
        await self.get(user_id, template_id)  # 404 for another user's
        query = (
            select(_v.version, _v.created_at)
            .where(_v.template_id == template_id)
            .order_by(_v.version.desc())
            .limit(limit + 1)
        )
        if cursor is not None:
            query = query.where(_v.version < cursor)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [VersionInfo(r.version, r.created_at) for r in rows[:limit]]
        return items, items[-1].version if len(rows) > limit else None

    async def delete(self, user_id: str, template_id: str) -> None:
        """The template and all its versions; `NotFoundError` for another user's."""
        async with write_transaction(self.engine) as conn:
            await self._delete_versions(conn, and_(_t.id == template_id, _t.user_id == user_id))
            gone = await conn.execute(
                delete(templates).where(_t.id == template_id, _t.user_id == user_id)
            )
        if gone.rowcount == 0:
            raise NotFoundError(f"template {template_id} not found")

    async def delete_user_templates(self, user_id: str) -> int:
        """Every template of the user (deleting an account); how many there were."""
        async with write_transaction(self.engine) as conn:
            await self._delete_versions(conn, _t.user_id == user_id)
            gone = await conn.execute(delete(templates).where(_t.user_id == user_id))
        return int(gone.rowcount)

    @staticmethod
    async def _delete_versions(conn: AsyncConnection, which: Any) -> None:
        # Explicit (SQLite enforces the cascade only with foreign keys on).
        await conn.execute(
            delete(template_versions).where(
                _v.template_id.in_(select(_t.id).where(which).scalar_subquery())
            )
        )

    async def record_generated(self, job_id: str, template_id: str, version: int) -> None:
        """Note on a `template_generate` job the template it saved (its input gains
        `"template": {"id", "version"}`), so the job shows it and a retry reuses it."""
        async with write_transaction(self.engine) as conn:
            text = (
                await conn.execute(select(jobs.c.input).where(jobs.c.id == job_id))
            ).scalar_one_or_none()
            if text is None:
                return
            value = json.loads(text)
            value["template"] = {"id": template_id, "version": version}
            await conn.execute(
                update(jobs).where(jobs.c.id == job_id).values(input=json.dumps(value))
            )

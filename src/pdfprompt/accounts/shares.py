"""Share links: a public URL for one file, expiring, optionally limited in downloads.

The token (192 random bits) is shown once, at creation; only its SHA-256 is stored. A
download is counted by one conditional UPDATE (not revoked, not expired, downloads below
the limit), so concurrent downloads never pass the limit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, and_, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import ColumnElement

from pdfprompt.db import db_now, files, jobs, now_plus, shares, write_transaction
from pdfprompt.domain import GoneError, NotFoundError, new_id


@dataclass(frozen=True, slots=True)
class Share:
    id: str
    file_id: str
    expires_at: datetime
    max_downloads: int | None
    downloads: int
    revoked_at: datetime | None
    created_at: datetime
    token: str | None = None  # only in the answer that created it


def _usable() -> ColumnElement[bool]:
    """A link not revoked, not expired, and with downloads left."""
    return and_(
        shares.c.revoked_at.is_(None),
        shares.c.expires_at > db_now(),
        or_(shares.c.max_downloads.is_(None), shares.c.downloads < shares.c.max_downloads),
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_COLUMNS = (
    shares.c.id,
    shares.c.file_id,
    shares.c.expires_at,
    shares.c.max_downloads,
    shares.c.downloads,
    shares.c.revoked_at,
    shares.c.created_at,
)


class ShareStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self, user_id: str, file_id: str, *, expires_in_s: float, max_downloads: int | None
    ) -> Share:
        """A new link to one of the user's files; `NotFoundError` for anyone else's."""
        token = secrets.token_urlsafe(24)
        share_id = new_id()
        owned = select(
            literal(share_id, String),
            literal(user_id, String),
            files.c.id,
            literal(_hash(token), String),
            now_plus(expires_in_s),
            literal(max_downloads, Integer),
        ).where(files.c.id == file_id, files.c.user_id == user_id)
        columns = ["id", "user_id", "file_id", "token_hash", "expires_at", "max_downloads"]
        async with write_transaction(self.engine) as conn:
            made = (
                await conn.execute(insert(shares).from_select(columns, owned).returning(*_COLUMNS))
            ).first()
        if made is None:
            raise NotFoundError(f"file {file_id} not found")
        return Share(**made._mapping, token=token)

    async def list(self, user_id: str, file_id: str) -> list[Share]:
        """The file's links, newest first; `NotFoundError` when the file is not the user's."""
        async with self.engine.connect() as conn:
            owner = (
                await conn.execute(select(files.c.user_id).where(files.c.id == file_id))
            ).scalar_one_or_none()
            if owner != user_id:
                raise NotFoundError(f"file {file_id} not found")
            rows = (
                await conn.execute(
                    select(*_COLUMNS)
                    .where(shares.c.file_id == file_id)
                    .order_by(shares.c.id.desc())
                )
            ).all()
        return [Share(**r._mapping) for r in rows]

    async def revoke(self, user_id: str, share_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(
                update(shares)
                .where(shares.c.id == share_id, shares.c.user_id == user_id)
                .values(revoked_at=db_now())
            )
        if done.rowcount != 1:
            raise NotFoundError(f"share {share_id} not found")

    async def find(self, token: str) -> tuple[str, str]:
        """The (user id, file id) of a link that can still be downloaded, without counting a
        download; `NotFoundError` for a token that never was, `GoneError` for an expired,
        revoked or used-up link."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        shares.c.user_id,
                        shares.c.file_id,
                        _usable().label("usable"),
                    ).where(shares.c.token_hash == _hash(token))
                )
            ).first()
        if row is None:
            raise NotFoundError("no such link")
        if not row.usable:
            raise GoneError("this link has expired, was revoked or has been used up")
        return row.user_id, row.file_id

    async def title(self, file_id: str) -> str | None:
        """What a shared file is called on its public page: its job's `title` option, else
        the filename the job gave it; None when it has neither (its name is the job's id)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(jobs.c.id, jobs.c.options, files.c.filename)
                    .select_from(files.outerjoin(jobs, jobs.c.id == files.c.job_id))
                    .where(files.c.id == file_id)
                )
            ).first()
        if row is None:
            return None
        given = (row.options or {}).get("title")
        if isinstance(given, str) and given.strip():
            return given.strip()
        if row.id is None or row.filename == f"{row.id}.pdf":
            return None
        return str(row.filename).removesuffix(".pdf")

    async def take_download(self, token: str) -> tuple[str, str]:
        """Count one download of the link; its (user id, file id). `NotFoundError` for a
        token that never was, `GoneError` for an expired, revoked or used-up link."""
        digest = _hash(token)
        async with write_transaction(self.engine) as conn:
            taken = (
                await conn.execute(
                    update(shares)
                    .where(shares.c.token_hash == digest, _usable())
                    .values(downloads=shares.c.downloads + 1)
                    .returning(shares.c.user_id, shares.c.file_id)
                )
            ).first()
            if taken is not None:
                return taken.user_id, taken.file_id
            known = (
                await conn.execute(select(shares.c.id).where(shares.c.token_hash == digest))
            ).first()
        if known is None:
            raise NotFoundError("no such link")
        raise GoneError("this link has expired, was revoked or has been used up")

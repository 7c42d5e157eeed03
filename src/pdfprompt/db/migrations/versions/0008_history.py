"""The history page: each job's title and search text (made at submission, filled in here
for the jobs already there), an index to list a user's jobs of one type and one holding the
search text (a search scans it, not the jobs), and each file's first-page thumbnail (a
storage key, indexed for the orphan sweep).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from pdfprompt.domain import JobType, document_title, search_text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 500
_HEAD_CHARS = 4000  # the titles and search texts are made from the start of the input

_jobs = sa.table(
    "jobs",
    sa.column("id", sa.String),
    sa.column("type", sa.String),
    sa.column("input", sa.Text),
    sa.column("options", sa.JSON),
    sa.column("title", sa.String),
    sa.column("search_text", sa.Text),
)


def upgrade() -> None:
    op.add_column("jobs", sa.Column("title", sa.String(200), nullable=True))
    op.add_column("jobs", sa.Column("search_text", sa.Text(), nullable=True))
    op.create_index("ix_jobs_user_id_type_id", "jobs", ["user_id", "type", "id"])
    op.add_column("files", sa.Column("thumbnail_key", sa.String(512), nullable=True))
    op.create_index("ix_files_thumbnail_key", "files", ["thumbnail_key"])
    _fill_titles(op.get_bind())
    # After the texts are there: one build of the index, not an update per row.
    op.create_index("ix_jobs_user_id_id_search_text", "jobs", ["user_id", "id", "search_text"])


def _fill_titles(conn: sa.Connection) -> None:
    """Title and search text for every job there is, in batches by id."""
    last = ""
    while True:
        rows = conn.execute(
            sa.select(
                _jobs.c.id,
                _jobs.c.type,
                sa.func.substr(_jobs.c.input, 1, _HEAD_CHARS).label("head"),
                _jobs.c.options,
            )
            .where(_jobs.c.id > last)
            .order_by(_jobs.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = [_made(r.id, r.type, r.head, r.options) for r in rows]
        conn.execute(
            _jobs.update()
            .where(_jobs.c.id == sa.bindparam("job_id"))
            .values(title=sa.bindparam("new_title"), search_text=sa.bindparam("new_search")),
            values,
        )
        last = rows[-1].id


def _made(job_id: str, kind: str, head: str | None, options: Any) -> dict[str, str]:
    if isinstance(options, str):
        options = json.loads(options)
    if not isinstance(options, dict):
        options = {}
    try:
        job_type = JobType(kind)
    except ValueError:
        job_type = JobType.PROMPT
    text = head or ""
    return {
        "job_id": job_id,
        "new_title": document_title(job_type, text, options),
        "new_search": search_text(job_type, text, options),
    }


def downgrade() -> None:
    op.drop_index("ix_jobs_user_id_id_search_text", table_name="jobs")
    op.drop_index("ix_files_thumbnail_key", table_name="files")
    op.drop_column("files", "thumbnail_key")
    op.drop_index("ix_jobs_user_id_type_id", table_name="jobs")
    op.drop_column("jobs", "search_text")
    op.drop_column("jobs", "title")

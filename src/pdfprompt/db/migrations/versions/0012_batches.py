"""Batches: jobs submitted together. A `batches` table, and on `jobs` the batch, the row and
the PDF's name in the batch's archive, with a partial index of batch jobs (row order and
counts by status; the claim's indexes are unchanged).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdfprompt.db.types import Timestamp, db_now

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("template_id", sa.String(40), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("created_at", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("canceled_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_batches_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
    )
    op.create_index("ix_batches_user_id_id", "batches", ["user_id", "id"])
    op.create_index(
        "ix_batches_open",
        "batches",
        ["id"],
        postgresql_where=sa.text("state = 'open'"),
        sqlite_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "uq_batches_user_id_idempotency_key",
        "batches",
        ["user_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    # Plain ADD COLUMN on both databases (a table copy on SQLite would drop the triggers).
    op.add_column("jobs", sa.Column("batch_id", sa.String(40), nullable=True))
    op.add_column("jobs", sa.Column("batch_row", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("batch_name", sa.String(255), nullable=True))
    op.create_index(
        "ix_jobs_batch_id_status_batch_row",
        "jobs",
        ["batch_id", "status", "batch_row"],
        postgresql_where=sa.text("batch_id IS NOT NULL"),
        sqlite_where=sa.text("batch_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_batch_id_status_batch_row", table_name="jobs")
    op.drop_column("jobs", "batch_name")
    op.drop_column("jobs", "batch_row")
    op.drop_column("jobs", "batch_id")
    op.drop_index("uq_batches_user_id_idempotency_key", table_name="batches")
    op.drop_index("ix_batches_open", table_name="batches")
    op.drop_index("ix_batches_user_id_id", table_name="batches")
    op.drop_table("batches")

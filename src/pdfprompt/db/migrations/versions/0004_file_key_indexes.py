"""Indexes on the files' storage keys, for the orphan sweep.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_files_storage_key", "files", ["storage_key"])
    op.create_index("ix_files_html_key", "files", ["html_key"])


def downgrade() -> None:
    op.drop_index("ix_files_html_key", table_name="files")
    op.drop_index("ix_files_storage_key", table_name="files")

"""The versions of a document: an index to find a job's revisions by their parent (the
document page walks down from the first version).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_user_id_parent_id", "jobs", ["user_id", "parent_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_user_id_parent_id", table_name="jobs")

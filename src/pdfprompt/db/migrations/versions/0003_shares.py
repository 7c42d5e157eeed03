"""Share links: public, expiring, optionally download-limited links to one file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdfprompt.db.types import Timestamp, db_now

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("file_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, server_default=db_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_shares_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name="fk_shares_file_id_files", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_shares"),
        sa.UniqueConstraint("token_hash", name="uq_shares_token_hash"),
    )
    op.create_index("ix_shares_file_id", "shares", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_shares_file_id", table_name="shares")
    op.drop_table("shares")

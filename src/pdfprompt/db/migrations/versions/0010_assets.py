"""Assets: a user's uploaded images and fonts, which documents refer to as `asset:ID` or
`asset:NAME`; their bytes are in storage.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdfprompt.db.types import Timestamp, db_now

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(512), nullable=False),
        sa.Column("created_at", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("updated_at", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_assets_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        sa.UniqueConstraint("user_id", "name", name="uq_assets_user_id_name"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_assets_user_id_idempotency_key"),
    )
    op.create_index("ix_assets_user_id", "assets", ["user_id"])
    op.create_index("ix_assets_storage_key", "assets", ["storage_key"])


def downgrade() -> None:
    op.drop_index("ix_assets_storage_key", table_name="assets")
    op.drop_index("ix_assets_user_id", table_name="assets")
    op.drop_table("assets")

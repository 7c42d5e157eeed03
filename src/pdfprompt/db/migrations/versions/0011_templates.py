"""Templates (issue 21): a user's named templates and their immutable versions, and a
job type of 17 characters (`template_generate`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from pdfprompt.db.types import Timestamp, db_now

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # A job's type may be `template_generate` (17 characters). SQLite enforces no length.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "jobs", "type", type_=sa.String(32), existing_type=sa.String(16), nullable=False
        )
    op.create_table(
        "templates",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=db_now()),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=db_now()),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_templates_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_templates"),
        sa.UniqueConstraint("user_id", "name", name="uq_templates_user_id_name"),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name="uq_templates_user_id_idempotency_key"
        ),
    )
    op.create_table(
        "template_versions",
        sa.Column("template_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("schema", _Json, nullable=True),
        sa.Column("sample_data", _Json, nullable=True),
        sa.Column("options", _Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=db_now()),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name="fk_template_versions_template_id_templates",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("template_id", "version", name="pk_template_versions"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "jobs", "type", type_=sa.String(16), existing_type=sa.String(32), nullable=False
        )
    op.drop_table("template_versions")
    op.drop_table("templates")

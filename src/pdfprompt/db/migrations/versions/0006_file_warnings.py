"""What a file's render did not do as its document asked (addresses it refused to load),
as JSON text: shown on its job, and again when an identical render reuses the file.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("files", sa.Column("warnings", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("files", "warnings")

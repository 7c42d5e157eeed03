"""Webhooks: endpoints, their deliveries and every attempt, and triggers that enqueue a
delivery for each subscribed endpoint in the transaction that produces the event.

- a job going from queued/running to succeeded, failed or canceled: `job.<status>`;
- a quota warning appended to the usage history: `quota.warning`.

Doing it by trigger holds for every path that ends a job (finish, failure, cancellation,
lease expiry out of attempts), present and future, and the event commits or rolls back
with the change it reports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from pdfprompt.db.types import Timestamp, db_now

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(36)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_JOB_ENDED = (
    "OLD.status IN ('queued', 'running') AND NEW.status IN ('succeeded', 'failed', 'canceled')"
)

_PG = (
    """
CREATE FUNCTION pdfprompt_webhook_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (webhook_id, user_id, event, subject)
  SELECT w.id, NEW.user_id, 'job.' || NEW.status, NEW.id
    FROM webhooks w
   WHERE w.user_id = NEW.user_id AND w.disabled_at IS NULL
     AND w.events ? ('job.' || NEW.status);
  RETURN NEW;
END $$
""",
    f"""
CREATE TRIGGER pdfprompt_webhook_job_event AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN ({_JOB_ENDED}) EXECUTE FUNCTION pdfprompt_webhook_job_event()
""",
    """
CREATE FUNCTION pdfprompt_webhook_quota_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (webhook_id, user_id, event, subject)
  SELECT w.id, NEW.user_id, 'quota.warning', NEW.period
    FROM webhooks w
   WHERE w.user_id = NEW.user_id AND w.disabled_at IS NULL
     AND w.events ? 'quota.warning';
  RETURN NEW;
END $$
""",
    """
CREATE TRIGGER pdfprompt_webhook_quota_event AFTER INSERT ON usage_events
FOR EACH ROW WHEN (NEW.kind = 'quota_warning') EXECUTE FUNCTION pdfprompt_webhook_quota_event()
""",
)

_SQLITE = (
    f"""
CREATE TRIGGER pdfprompt_webhook_job_event AFTER UPDATE OF status ON jobs
WHEN {_JOB_ENDED}
BEGIN
  INSERT INTO webhook_deliveries (webhook_id, user_id, event, subject)
  SELECT w.id, NEW.user_id, 'job.' || NEW.status, NEW.id
    FROM webhooks w
   WHERE w.user_id = NEW.user_id AND w.disabled_at IS NULL
     AND EXISTS (SELECT 1 FROM json_each(w.events) AS e WHERE e.value = 'job.' || NEW.status);
END
""",
    """
CREATE TRIGGER pdfprompt_webhook_quota_event AFTER INSERT ON usage_events
WHEN NEW.kind = 'quota_warning'
BEGIN
  INSERT INTO webhook_deliveries (webhook_id, user_id, event, subject)
  SELECT w.id, NEW.user_id, 'quota.warning', NEW.period
    FROM webhooks w
   WHERE w.user_id = NEW.user_id AND w.disabled_at IS NULL
     AND EXISTS (SELECT 1 FROM json_each(w.events) AS e WHERE e.value = 'quota.warning');
END
""",
)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("description", sa.String(200), server_default="", nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("failure_run", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("disabled_at", Timestamp, nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("last_success_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, server_default=db_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_webhooks_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_user_id", "webhooks", ["user_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("window_start", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_webhook_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"]
    )
    op.create_index(
        "ix_webhook_deliveries_finished_at",
        "webhook_deliveries",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
        sqlite_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("delivery_id", SERIAL, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", Timestamp, server_default=db_now(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index(
        "ix_webhook_attempts_delivery_id_number", "webhook_attempts", ["delivery_id", "number"]
    )
    for statement in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_webhook_job_event ON jobs")
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_webhook_quota_event ON usage_events")
        op.execute("DROP FUNCTION IF EXISTS pdfprompt_webhook_job_event()")
        op.execute("DROP FUNCTION IF EXISTS pdfprompt_webhook_quota_event()")
    else:
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_webhook_job_event")
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_webhook_quota_event")
    op.drop_index("ix_webhook_attempts_delivery_id_number", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_finished_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_id_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_user_id", table_name="webhooks")
    op.drop_table("webhooks")

"""Plans and quota: the plan and quota period of each job, usage counters, usage history,
and triggers that settle a job's reservation in the transaction that ends it.

Every way a job ends (finish, failure, cancellation, lease expiry out of attempts,
deletion of a job still in flight) changes its row, so settling there, by trigger, holds
for every path, present and future, on both databases:
- queued/running -> succeeded: the reservation becomes a used PDF, and the job is
  appended to the usage history (pages, bytes, generator, duration);
- queued/running -> failed or canceled, or deleted while queued/running: the reservation
  is released.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdfprompt.db.types import Timestamp, db_now

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(36)

_IN_FLIGHT = "('queued', 'running')"
_ENDED = "('succeeded', 'failed', 'canceled')"

_PG_FUNCTION = f"""
CREATE FUNCTION pdfprompt_settle_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.quota_period IS NOT NULL AND OLD.status IN {_IN_FLIGHT} THEN
      UPDATE usage_counters SET reserved = reserved - 1
       WHERE user_id = OLD.user_id AND period = OLD.quota_period;
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.quota_period IS NOT NULL AND OLD.status IN {_IN_FLIGHT}
     AND NEW.status IN {_ENDED} THEN
    UPDATE usage_counters
       SET reserved = reserved - 1,
           used = used + CASE WHEN NEW.status = 'succeeded' THEN 1 ELSE 0 END
     WHERE user_id = NEW.user_id AND period = NEW.quota_period;
    IF NEW.status = 'succeeded' THEN
      INSERT INTO usage_events
        (user_id, kind, period, job_id, pages, size_bytes, generator, duration_ms)
      SELECT NEW.user_id, 'job', NEW.quota_period, NEW.id, f.pages, f.size_bytes,
             NEW.generator,
             (EXTRACT(EPOCH FROM (NEW.finished_at - NEW.started_at)) * 1000)::bigint
        FROM (SELECT 1) AS one LEFT JOIN files f ON f.id = NEW.file_id;
    END IF;
  END IF;
  RETURN NEW;
END $$;
"""

_SQLITE_TRIGGERS = (
    f"""
CREATE TRIGGER pdfprompt_settle_on_end AFTER UPDATE OF status ON jobs
WHEN NEW.quota_period IS NOT NULL AND OLD.status IN {_IN_FLIGHT} AND NEW.status IN {_ENDED}
BEGIN
  UPDATE usage_counters
     SET reserved = reserved - 1,
         used = used + CASE WHEN NEW.status = 'succeeded' THEN 1 ELSE 0 END
   WHERE user_id = NEW.user_id AND period = NEW.quota_period;
  INSERT INTO usage_events
    (user_id, kind, period, job_id, pages, size_bytes, generator, duration_ms, created_at)
  SELECT NEW.user_id, 'job', NEW.quota_period, NEW.id,
         (SELECT pages FROM files WHERE id = NEW.file_id),
         (SELECT size_bytes FROM files WHERE id = NEW.file_id),
         NEW.generator,
         CAST(ROUND((julianday(NEW.finished_at) - julianday(NEW.started_at)) * 86400000)
              AS INTEGER),
         strftime('%Y-%m-%d %H:%M:%f', 'now')
   WHERE NEW.status = 'succeeded';
END
""",
    f"""
CREATE TRIGGER pdfprompt_release_on_delete AFTER DELETE ON jobs
WHEN OLD.quota_period IS NOT NULL AND OLD.status IN {_IN_FLIGHT}
BEGIN
  UPDATE usage_counters SET reserved = reserved - 1
   WHERE user_id = OLD.user_id AND period = OLD.quota_period;
END
""",
)


def upgrade() -> None:
    op.add_column("jobs", sa.Column("plan", sa.String(64), nullable=True))
    op.add_column("jobs", sa.Column("quota_period", sa.String(7), nullable=True))
    op.create_table(
        "usage_counters",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("used", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("warned_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_usage_counters_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period", name="pk_usage_counters"),
    )
    op.create_table(
        "usage_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("generator", sa.String(32), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("plan_from", sa.String(64), nullable=True),
        sa.Column("plan_to", sa.String(64), nullable=True),
        sa.Column("created_at", Timestamp, server_default=db_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_usage_events_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_usage_events"),
    )
    op.create_index(
        "ix_usage_events_user_id_period_id", "usage_events", ["user_id", "period", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER pdfprompt_settle_usage AFTER UPDATE OF status OR DELETE ON jobs "
            "FOR EACH ROW EXECUTE FUNCTION pdfprompt_settle_usage()"
        )
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_settle_usage ON jobs")
        op.execute("DROP FUNCTION IF EXISTS pdfprompt_settle_usage()")
    else:
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_settle_on_end")
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_release_on_delete")
    op.drop_index("ix_usage_events_user_id_period_id", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_table("usage_counters")
    op.drop_column("jobs", "quota_period")
    op.drop_column("jobs", "plan")

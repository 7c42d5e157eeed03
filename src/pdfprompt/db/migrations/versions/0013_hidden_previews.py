"""Template previews are invisible: a `preview` flag on jobs (set when the preview's job is
queued), and the webhook trigger on jobs remade to skip flagged jobs, so a preview never
makes a `job.*` delivery. Lists, the history and the figures people read skip them too
(queue.store), and the maintenance pass deletes the ones left behind by an API process that
died while waiting.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_JOB_ENDED = (
    "OLD.status IN ('queued', 'running') AND NEW.status IN ('succeeded', 'failed', 'canceled')"
)


def _pg_trigger(when: str) -> str:
    return f"""
CREATE TRIGGER pdfprompt_webhook_job_event AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION pdfprompt_webhook_job_event()
"""


def _sqlite_trigger(when: str) -> str:
    return f"""
CREATE TRIGGER pdfprompt_webhook_job_event AFTER UPDATE OF status ON jobs
WHEN {when}
BEGIN
  INSERT INTO webhook_deliveries (webhook_id, user_id, event, subject)
  SELECT w.id, NEW.user_id, 'job.' || NEW.status, NEW.id
    FROM webhooks w
   WHERE w.user_id = NEW.user_id AND w.disabled_at IS NULL
     AND EXISTS (SELECT 1 FROM json_each(w.events) AS e WHERE e.value = 'job.' || NEW.status);
END
"""


def _remake_trigger(when: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_webhook_job_event ON jobs")
        op.execute(_pg_trigger(when))
    else:
        op.execute("DROP TRIGGER IF EXISTS pdfprompt_webhook_job_event")
        op.execute(_sqlite_trigger(when))


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (a table copy on SQLite would drop the triggers).
    op.add_column(
        "jobs", sa.Column("preview", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    # The maintenance pass finds previews left behind (there are few: a partial index).
    op.create_index(
        "ix_jobs_preview_created_at",
        "jobs",
        ["created_at"],
        postgresql_where=sa.text("preview"),
        sqlite_where=sa.text("preview = 1"),
    )
    _remake_trigger(f"{_JOB_ENDED} AND NOT NEW.preview")


def downgrade() -> None:
    _remake_trigger(_JOB_ENDED)
    op.drop_index("ix_jobs_preview_created_at", table_name="jobs")
    op.drop_column("jobs", "preview")

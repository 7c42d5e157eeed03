"""The schema, in one place. Alembic migrations are written against this `metadata`."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from pdfprompt.db.types import Timestamp, db_now

Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("plan", String(64), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    # argon2id (accounts.passwords); NULL for users who only use API keys.
    Column("password_hash", String(255)),
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
)

# Signed-in browser sessions. The cookie's token is shown once and kept only as its SHA-256.
# A session ends at `expires_at` (absolute), after its idle time since `last_seen_at`, or
# when revoked; ended rows are pruned.
sessions = Table(
    "sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("last_seen_at", Timestamp, nullable=False, server_default=db_now()),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Column("user_agent", String(200), nullable=False, server_default=""),
    Column("address", String(64), nullable=False, server_default=""),
    # "Sign out everywhere" ends all of a user's sessions (and the cascade deletes them).
    Index("ix_sessions_user_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # The visible part of the key (`pp_<prefix>_...`); looked up by this, then the hash compared.
    Column("prefix", String(32), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("scopes", Json, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("last_used_at", Timestamp),
    Column("expires_at", Timestamp),
    Column("revoked_at", Timestamp),
    Index("ix_api_keys_user_id", "user_id"),
)

files = Table(
    "files",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", ID, nullable=False, unique=True),  # one job, one file
    Column("storage_key", String(512), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    # What was rendered (engine, document, options, owner), hashed: an identical render
    # reuses these bytes (see pipeline.render_key).
    Column("render_key", String(64)),
    # Prompt jobs: the generated HTML, kept so that a revision can edit it.
    Column("html_key", String(512)),
    # What its render did not do as the document asked, as JSON text (pdfprompt.domain's
    # JobWarning: code and message); NULL when nothing.
    Column("warnings", Text),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    # Its first page as a small PNG, stored beside the PDF; NULL for files made before
    # thumbnails were (their history shows a placeholder).
    Column("thumbnail_key", String(512)),
    Index("ix_files_user_id_id", "user_id", "id"),
    Index("ix_files_render_key", "render_key"),
    # The orphan sweep asks which stored objects a row still points to.
    Index("ix_files_storage_key", "storage_key"),
    Index("ix_files_html_key", "html_key"),
    Index("ix_files_thumbnail_key", "thumbnail_key"),
)

# A user's uploaded images and fonts (`asset:ID` or `asset:NAME` in a document). The bytes
# are in storage under `storage_key`; a replacement writes a new key and the row moves to it.
assets = Table(
    "assets",
    metadata,
    Column("id", String(40), primary_key=True),  # "ast_" and a time-ordered id
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(512), nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("updated_at", Timestamp, nullable=False, server_default=db_now()),
    # The upload's `Idempotency-Key`: the same key from the same user answers this asset.
    Column("idempotency_key", String(255)),
    UniqueConstraint("user_id", "name"),
    UniqueConstraint("user_id", "idempotency_key"),
    Index("ix_assets_user_id", "user_id"),
    # The orphan sweep asks which stored objects a row still points to.
    Index("ix_assets_storage_key", "storage_key"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # 32 characters on PostgreSQL since migration 0011 (`template_generate`); SQLite does not
    # enforce a length, and its column keeps the type it was made with.
    Column("type", String(32).with_variant(String(16), "sqlite"), nullable=False),
    Column("input", Text, nullable=False),
    Column("options", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("progress", Float, nullable=False, server_default=text("0")),
    Column("generator", String(32)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", Timestamp),
    Column("run_after", Timestamp, nullable=False, server_default=db_now()),
    Column("idempotency_key", String(255)),
    Column("file_id", ID, ForeignKey("files.id", ondelete="SET NULL")),
    Column("parent_id", ID),
    # The owner's plan when the job was submitted (its limits apply to this job), and the
    # quota period its PDF was reserved in (settled there when the job ends).
    Column("plan", String(64)),
    Column("quota_period", String(7)),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("updated_at", Timestamp, nullable=False, server_default=db_now()),
    Column("started_at", Timestamp),
    Column("finished_at", Timestamp),
    # What the history shows and searches, made at submission (domain.document_title and
    # search_text) so that listing never reads the input: the title, and the title with the
    # start of the input's text, case-folded.
    Column("title", String(200)),
    Column("search_text", Text),
    # A job of a batch: the batch, its row there (from 0) and its PDF's name in the
    # batch's archive (made safe and unique at submission).
    Column("batch_id", String(40)),
    Column("batch_row", Integer),
    Column("batch_name", String(255)),
    # A template preview's job (migration 0013): run like any job, then deleted; no list,
    # history, webhook or figure people read shows it.
    Column("preview", Boolean, nullable=False, server_default=text("false")),
    # The id of the HTTP request that submitted the job (migration 0015), for the worker's
    # log lines about it; NULL for jobs queued before it or by no request.
    Column("request_id", String(128)),
    # Reaping: running rows by lease expiry.
    Index(
        "ix_jobs_lease",
        "lease_expires_at",
        postgresql_where=text("status = 'running'"),
        sqlite_where=text("status = 'running'"),
    ),
    # The per-user cap on running jobs counts these.
    Index(
        "ix_jobs_running_user_id",
        "user_id",
        postgresql_where=text("status = 'running'"),
        sqlite_where=text("status = 'running'"),
    ),
    # Throughput, error rate and latency over recent windows (`pdfprompt stats`).
    Index(
        "ix_jobs_finished_at",
        "finished_at",
        postgresql_where=text("finished_at IS NOT NULL"),
        sqlite_where=text("finished_at IS NOT NULL"),
    ),
    # Listing a user's jobs newest first (ids are time-ordered), optionally by status.
    Index("ix_jobs_user_id_id", "user_id", "id"),
    Index("ix_jobs_user_id_status_id", "user_id", "status", "id"),
    Index("ix_jobs_user_id_type_id", "user_id", "type", "id"),
    Index("ix_jobs_user_id_parent_id", "user_id", "parent_id"),
    # A history search reads this index alone (the search text in it), newest first.
    Index("ix_jobs_user_id_id_search_text", "user_id", "id", "search_text"),
    # A batch's jobs: counted by status, those of one status in row order (the archive's
    # succeeded ones, the failed ones), whether any is still active; only batch jobs.
    Index(
        "ix_jobs_batch_id_status_batch_row",
        "batch_id",
        "status",
        "batch_row",
        postgresql_where=text("batch_id IS NOT NULL"),
        sqlite_where=text("batch_id IS NOT NULL"),
    ),
    # The maintenance pass's previews left behind (few at any time).
    Index(
        "ix_jobs_preview_created_at",
        "created_at",
        postgresql_where=text("preview"),
        sqlite_where=text("preview = 1"),
    ),
    # Idempotency: one job per (user, key).
    Index(
        "uq_jobs_user_id_idempotency_key",
        "user_id",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
        sqlite_where=text("idempotency_key IS NOT NULL"),
    ),
)

# Claiming: only queued rows are indexed. Claims interleave users, so the scan goes user by
# user in claim order (priority, then due time) and needs no sort within a user.
Index(
    "ix_jobs_claim",
    jobs.c.user_id,
    jobs.c.priority.desc(),
    jobs.c.run_after,
    jobs.c.id,
    postgresql_where=text("status = 'queued'"),
    sqlite_where=text("status = 'queued'"),
)

# One row per user and quota period (`YYYY-MM`): PDFs reserved by jobs in flight and PDFs
# used. A submission reserves with one conditional upsert; a job that ends settles its
# reservation in the same transaction (the triggers of migration 0002). A new month is a
# new row: nothing resets.
usage_counters = Table(
    "usage_counters",
    metadata,
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("reserved", Integer, nullable=False, server_default=text("0")),
    Column("used", Integer, nullable=False, server_default=text("0")),
    Column("warned_at", Timestamp),
)

# Append-only: each job that succeeded (written by trigger when it does) and each plan change.
usage_events = Table(
    "usage_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # "job" | "plan_change"
    Column("period", String(7), nullable=False),
    Column("job_id", ID),
    Column("pages", Integer),
    Column("size_bytes", BigInteger),
    Column("generator", String(32)),
    Column("duration_ms", BigInteger),
    Column("plan_from", String(64)),
    Column("plan_to", String(64)),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Index("ix_usage_events_user_id_period_id", "user_id", "period", "id"),
)

# Public links to one file: the token is shown once and kept only as its SHA-256.
shares = Table(
    "shares",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("file_id", ID, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", Timestamp, nullable=False),
    Column("max_downloads", Integer),
    Column("downloads", Integer, nullable=False, server_default=text("0")),
    Column("revoked_at", Timestamp),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Index("ix_shares_file_id", "file_id"),
)

# Endpoints that hear about a user's jobs and quota. The signing secret is kept as is: every
# delivery is signed with it (it is shown to the owner once, at creation).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("events", Json, nullable=False),  # a list of event names
    Column("description", String(200), nullable=False, server_default=""),
    Column("secret", String(128), nullable=False),
    # Deliveries in a row that failed for good; reaching the configured run disables it.
    Column("failure_run", Integer, nullable=False, server_default=text("0")),
    Column("disabled_at", Timestamp),
    Column("disabled_reason", Text),
    Column("last_success_at", Timestamp),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Index("ix_webhooks_user_id", "user_id"),
)

# One event for one endpoint, written by the triggers of migration 0005 in the transaction
# that ends the job (or records the quota warning), so no event is lost between the two.
# A delivery is a small queue entry: due when `status = 'pending'` and `next_attempt_at` has
# come; claiming it moves `next_attempt_at` past the attempt's lease and sets `lease_owner`,
# so a worker that dies mid-delivery leaves it due again when the lease runs out.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("webhook_id", ID, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("event", String(32), nullable=False),
    # What the event is about: the job's id, or the quota period (`YYYY-MM`).
    Column("subject", String(64), nullable=False),
    # The JSON body, fixed at the first attempt so that every retry sends the same bytes.
    Column("payload", Text),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Timestamp, nullable=False, server_default=db_now()),
    Column("lease_owner", String(128)),
    # Retries stop once the next one would fall past this start plus the retry window.
    Column("window_start", Timestamp, nullable=False, server_default=db_now()),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("finished_at", Timestamp),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    Index(
        "ix_webhook_deliveries_finished_at",
        "finished_at",
        postgresql_where=text("finished_at IS NOT NULL"),
        sqlite_where=text("finished_at IS NOT NULL"),
    ),
)

# Every attempt at a delivery: opened when it is claimed, closed with its outcome. One left
# open by a worker that stopped is marked interrupted when the delivery is claimed again.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "delivery_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("started_at", Timestamp, nullable=False, server_default=db_now()),
    Column("duration_ms", Integer),
    Column("status_code", Integer),
    Column("error", Text),
    Index("ix_webhook_attempts_delivery_id_number", "delivery_id", "number"),
)

# Jobs submitted together (`POST /v1/batches`). `state` is `open` until the completion pass
# marks it `completed` (once, by a conditional UPDATE, writing its `batch.completed`
# deliveries in the same transaction) or a cancel marks it `canceled`; its counts are read
# from its jobs (`jobs.batch_id`).
batches = Table(
    "batches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("total", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("template_id", String(40)),
    Column("template_version", Integer),
    Column("idempotency_key", String(255)),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("finished_at", Timestamp),
    Column("canceled_at", Timestamp),
    Index("ix_batches_user_id_id", "user_id", "id"),
    # The completion pass reads the open batches only.
    Index(
        "ix_batches_open",
        "id",
        postgresql_where=text("state = 'open'"),
        sqlite_where=text("state = 'open'"),
    ),
    Index(
        "uq_batches_user_id_idempotency_key",
        "user_id",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
        sqlite_where=text("idempotency_key IS NOT NULL"),
    ),
)

# A user's templates (issue 21): a name, an engine and the number of its latest version. A
# template's versions are immutable; a job copies what it needs of one when it is queued, so
# deleting a template (and, by cascade, its versions) never changes a queued job.
templates = Table(
    "templates",
    metadata,
    Column("id", String(40), primary_key=True),  # "tpl_" and a time-ordered id
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("engine", String(16), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("updated_at", Timestamp, nullable=False, server_default=db_now()),
    # The create request's Idempotency-Key: the same key again answers this template.
    Column("idempotency_key", String(255)),
    UniqueConstraint("user_id", "name"),
    UniqueConstraint("user_id", "idempotency_key"),
)

template_versions = Table(
    "template_versions",
    metadata,
    Column(
        "template_id",
        String(40),
        ForeignKey("templates.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("schema", Json),
    Column("sample_data", Json),
    Column("options", Json, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    PrimaryKeyConstraint("template_id", "version"),
)

# A user's signing certificates (`POST /v1/certificates`): what is shown of each, and the
# private key with its certificate and chain as a password-less PKCS#12 file sealed with
# AES-256-GCM under a key derived from `PDFPROMPT_SECRET_KEY` (`accounts.CertificateStore`).
certificates = Table(
    "certificates",
    metadata,
    Column("id", String(40), primary_key=True),  # "crt_" and a time-ordered id
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("issuer", String(1024), nullable=False),
    Column("serial_number", String(128), nullable=False),
    Column("not_before", Timestamp, nullable=False),
    Column("not_after", Timestamp, nullable=False),
    Column("fingerprint_sha256", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    UniqueConstraint("user_id", "fingerprint_sha256"),
    Index("ix_certificates_user_id", "user_id"),
)

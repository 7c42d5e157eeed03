"""Schema, engine and migrations. Driver errors are translated here, at the edge."""

from pdfprompt.db.batches import delete_in_batches, prune_older_than
from pdfprompt.db.driver import (
    DriverStatement,
    driver_connection,
    driver_transaction,
    read_one,
    sqlite_driver,
)
from pdfprompt.db.engine import (
    IMMEDIATE,
    async_url,
    create_engine,
    is_sqlite,
    is_sqlite_url,
    listen_dsn,
    shown_url,
    write_transaction,
)
from pdfprompt.db.errors import conflict_on_duplicate, is_unavailable
from pdfprompt.db.migrate import current_revision, head_revision, open_database, upgrade
from pdfprompt.db.queries import announce, stored_bytes
from pdfprompt.db.tables import (
    api_keys,
    files,
    jobs,
    metadata,
    sessions,
    shares,
    usage_counters,
    usage_events,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
)
from pdfprompt.db.types import (
    Timestamp,
    db_now,
    db_now_plus,
    now_plus,
    seconds_between,
    seconds_since,
)

__all__ = [
    "IMMEDIATE",
    "DriverStatement",
    "Timestamp",
    "announce",
    "api_keys",
    "async_url",
    "conflict_on_duplicate",
    "create_engine",
    "current_revision",
    "db_now",
    "db_now_plus",
    "delete_in_batches",
    "driver_connection",
    "driver_transaction",
    "files",
    "head_revision",
    "is_sqlite",
    "is_sqlite_url",
    "is_unavailable",
    "jobs",
    "listen_dsn",
    "metadata",
    "now_plus",
    "open_database",
    "prune_older_than",
    "read_one",
    "seconds_between",
    "seconds_since",
    "sessions",
    "shares",
    "shown_url",
    "sqlite_driver",
    "stored_bytes",
    "upgrade",
    "usage_counters",
    "usage_events",
    "users",
    "webhook_attempts",
    "webhook_deliveries",
    "webhooks",
    "write_transaction",
]

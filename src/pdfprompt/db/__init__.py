"""Schema, engine and migrations. Driver errors are translated here, at the edge."""

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
    listen_dsn,
    write_transaction,
)
from pdfprompt.db.errors import is_unavailable
from pdfprompt.db.migrate import current_revision, head_revision, open_database, upgrade
from pdfprompt.db.queries import stored_bytes
from pdfprompt.db.tables import (
    api_keys,
    files,
    jobs,
    metadata,
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
    "api_keys",
    "async_url",
    "create_engine",
    "current_revision",
    "db_now",
    "db_now_plus",
    "driver_connection",
    "driver_transaction",
    "files",
    "head_revision",
    "is_sqlite",
    "is_unavailable",
    "jobs",
    "listen_dsn",
    "metadata",
    "now_plus",
    "open_database",
    "read_one",
    "seconds_between",
    "seconds_since",
    "shares",
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

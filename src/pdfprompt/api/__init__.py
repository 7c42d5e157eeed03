"""The HTTP API."""

from pdfprompt.api.app import (
    build_worker,
    create_app,
    delivering_webhooks,
    prepare_database,
    wakeup_for,
    worker_config,
)
from pdfprompt.api.logs import redact, redact_access_log

__all__ = [
    "build_worker",
    "create_app",
    "delivering_webhooks",
    "prepare_database",
    "redact",
    "redact_access_log",
    "wakeup_for",
    "worker_config",
]

"""The HTTP API."""

from pdfprompt.api.app import (
    build_worker,
    create_app,
    delivering_webhooks,
    prepare_database,
    wakeup_for,
    worker_config,
)

__all__ = [
    "build_worker",
    "create_app",
    "delivering_webhooks",
    "prepare_database",
    "wakeup_for",
    "worker_config",
]

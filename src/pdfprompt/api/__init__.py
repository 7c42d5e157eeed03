"""The HTTP API."""

from pdfprompt.api.app import create_app, prepare_database, wakeup_for, worker_config

__all__ = ["create_app", "prepare_database", "wakeup_for", "worker_config"]

"""The one composition root: builds the services for `serve`, `api` and `worker` from
settings. `api/`, `web/` and `cli/` use what it builds; nothing else composes. It never
imports the web framework, so a worker process starts without it.

Each name loads its module when first used, so that an administration command (which asks
for `account_store` or `plans_in_force`) does not load the renderers, the LLM client and
the PDF tools a worker needs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdfprompt.wiring.admin import (
        account_store,
        open_accounts,
        open_sessions,
        plans_in_force,
        upgrade_database,
    )
    from pdfprompt.wiring.database import prepare_database
    from pdfprompt.wiring.oneshot import document_html, render_once
    from pdfprompt.wiring.roles import exit_at_second_signal, run_worker, running_services
    from pdfprompt.wiring.services import Services
    from pdfprompt.wiring.signing import signing_from_settings
    from pdfprompt.wiring.templates import check_body, check_data, check_schema
    from pdfprompt.wiring.worker import (
        build_worker,
        delivering_webhooks,
        process_wakeup,
        worker_config,
    )

# Where each exported name is defined.
_MODULES = {
    "Services": "services",
    "account_store": "admin",
    "build_worker": "worker",
    "check_body": "templates",
    "check_data": "templates",
    "check_schema": "templates",
    "delivering_webhooks": "worker",
    "document_html": "oneshot",
    "exit_at_second_signal": "roles",
    "open_accounts": "admin",
    "open_sessions": "admin",
    "plans_in_force": "admin",
    "prepare_database": "database",
    "process_wakeup": "worker",
    "render_once": "oneshot",
    "run_worker": "roles",
    "running_services": "roles",
    "signing_from_settings": "signing",
    "upgrade_database": "admin",
    "worker_config": "worker",
}

__all__ = [
    "Services",
    "account_store",
    "build_worker",
    "check_body",
    "check_data",
    "check_schema",
    "delivering_webhooks",
    "document_html",
    "exit_at_second_signal",
    "open_accounts",
    "open_sessions",
    "plans_in_force",
    "prepare_database",
    "process_wakeup",
    "render_once",
    "run_worker",
    "running_services",
    "signing_from_settings",
    "upgrade_database",
    "worker_config",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)

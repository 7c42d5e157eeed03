"""The one composition root: builds the services for `serve`, `api` and `worker` from
settings. `api/`, `web/` and `cli/` use what it builds; nothing else composes. It never
imports the web framework, so a worker process starts without it."""

from pdfprompt.wiring.database import (
    account_store,
    open_accounts,
    plans_in_force,
    prepare_database,
    upgrade_database,
)
from pdfprompt.wiring.oneshot import render_once
from pdfprompt.wiring.roles import run_worker, running_services
from pdfprompt.wiring.services import Services
from pdfprompt.wiring.worker import (
    build_worker,
    delivering_webhooks,
    wakeup_for,
    worker_config,
)

__all__ = [
    "Services",
    "account_store",
    "build_worker",
    "delivering_webhooks",
    "open_accounts",
    "plans_in_force",
    "prepare_database",
    "render_once",
    "run_worker",
    "running_services",
    "upgrade_database",
    "wakeup_for",
    "worker_config",
]

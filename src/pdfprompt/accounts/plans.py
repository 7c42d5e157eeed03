"""The plans in force: the built-in ladder, changed or extended by `PDFPROMPT_PLANS_FILE`;
and their lookups (`PlanLookups`: by name, for a caller, and the quota period now).

The file is TOML, one table per plan; a table named like a built-in plan changes only the
fields it gives, any other name is a new plan and must give every field:

    [plans.classic]
    pdfs_per_month = 100

    [plans.team]
    pdfs_per_month = 500
    max_pages = 100
    max_prompt_chars = 10000
    max_file_bytes = 20971520
    storage_bytes = "unlimited"
    retention_days = 90
    priority = 2
    max_concurrent_jobs = 4
    rate_limit_per_minute = 300
    watermark = false
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pdfprompt.accounts.principals import Principal
from pdfprompt.domain import (
    BUILTIN_PLANS,
    InvalidInputError,
    Plan,
    period_of,
    plan_from_mapping,
)

log = logging.getLogger(__name__)


def load_plans(path: str | Path | None) -> dict[str, Plan]:
    """The built-in plans, with the file's changes and additions when a path is given."""
    plans = dict(BUILTIN_PLANS)
    if path is None:
        return plans
    try:
        data: dict[str, Any] = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise InvalidInputError(
            f"PDFPROMPT_PLANS_FILE: cannot read {path}: {exc.strerror}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"PDFPROMPT_PLANS_FILE: {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - {"plans"}
    if unknown:
        raise InvalidInputError(
            f"PDFPROMPT_PLANS_FILE: unknown table(s) {', '.join(sorted(unknown))}; "
            "plans go in [plans.NAME]"
        )
    for name, values in data.get("plans", {}).items():
        if not isinstance(values, dict):
            raise InvalidInputError(f"PDFPROMPT_PLANS_FILE: plans.{name} must be a table")
        plans[name] = plan_from_mapping(name, values, BUILTIN_PLANS.get(name))
    return plans


def check_default_plan(
    plans: dict[str, Plan], name: str, setting: str = "PDFPROMPT_DEFAULT_PLAN"
) -> None:
    """`setting` (`PDFPROMPT_DEFAULT_PLAN`, `PDFPROMPT_SIGNUP_PLAN`) must name a plan."""
    if name not in plans:
        raise InvalidInputError(f"{setting}: no plan named {name!r} (plans: {', '.join(plans)})")


class PlanLookups:
    """The plans a store knows, looked up by name or for a caller, and the quota period by
    the store's clock. A part of `AccountStore`, which sets these attributes."""

    plans: dict[str, Plan]
    default_plan: str
    clock: Callable[[], datetime]

    def plan(self, name: str) -> Plan:
        """The plan of this name; `InvalidInputError` naming the plans there are."""
        found = self.plans.get(name)
        if found is None:
            raise InvalidInputError(
                f"no plan named {name!r} (plans: {', '.join(self.plans)})", field="plan"
            )
        return found

    def plan_of(self, principal: Principal) -> Plan:
        """The caller's plan. A user left on a plan the plans file no longer has gets the
        default plan (and the operator a warning) rather than no service."""
        found = self.plans.get(principal.plan)
        if found is None:
            log.warning(
                "user %s is on plan %r, which is not configured; applying %r",
                principal.user_id,
                principal.plan,
                self.default_plan,
            )
            return self.plans[self.default_plan]
        return found

    def period(self) -> str:
        """The quota period now (`YYYY-MM`, UTC), from this store's clock."""
        return period_of(self.clock())

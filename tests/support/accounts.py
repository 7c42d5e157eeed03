"""Deployments with a plans file, and users on those plans, for the account tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.support.processes import Process, new_account

# A plan that limits nothing a test does not name: `plans_toml` changes its fields.
UNLIMITED: dict[str, int | str | bool] = {
    "pdfs_per_month": "unlimited",
    "max_pages": "unlimited",
    "max_prompt_chars": "unlimited",
    "max_file_bytes": "unlimited",
    "storage_bytes": "unlimited",
    "retention_days": 30,
    "priority": 0,
    "max_concurrent_jobs": 4,
    "rate_limit_per_minute": "unlimited",
    "watermark": False,
}


def plans_toml(**plans: dict[str, int | str | bool]) -> str:
    """A plans file (`PDFPROMPT_PLANS_FILE`): each plan named is `UNLIMITED` with the
    fields given changed."""

    def toml(value: int | str | bool) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return f'"{value}"' if isinstance(value, str) else str(value)

    return "\n".join(
        f"[plans.{name}]\n"
        + "".join(f"{field} = {toml(value)}\n" for field, value in {**UNLIMITED, **changed}.items())
        for name, changed in plans.items()
    )


PLANS = plans_toml(
    tiny={
        "pdfs_per_month": 50,
        "max_pages": 1,
        "max_prompt_chars": 100,
        "max_file_bytes": 10485760,
        "watermark": True,
    },
    nofile={"pdfs_per_month": 50, "max_file_bytes": 100},
    nostore={"pdfs_per_month": 50, "storage_bytes": 1},
    slow={"rate_limit_per_minute": 5},
)


Start = Callable[..., Process]


# A webhook that is registered and never sent to: a literal public address (no name to look
# up) for an event an unlimited plan never has.
HOOK = "https://93.184.215.14/in"


def user_on_plan(env: dict[str, str], email: str, plan: str) -> str:
    return new_account(env, email, plan=plan)[1]


def client_for(server: Process, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def fresh_rate_window() -> None:
    """Rate limits count per clock minute: start a burst well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)

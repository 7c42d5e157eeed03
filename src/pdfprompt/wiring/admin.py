"""What the administration commands open: the plans in force, the account store alone, and
the database's migrations. It loads no more than accounts and db, so that `pdfprompt users`,
`plans` and `db` start without the worker side."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore, SessionStore, check_default_plan, load_plans
from pdfprompt.db import create_engine, open_database, upgrade
from pdfprompt.domain import Plan
from pdfprompt.settings import Settings


def plans_in_force(settings: Settings, *, check_default: bool = True) -> dict[str, Plan]:
    """The plans file's plans (or the built-in ones); a bad file, or with `check_default`
    an unknown default or sign-up plan, stops here, with its problem."""
    plans = load_plans(settings.plans_file)
    if check_default:
        check_default_plan(plans, settings.default_plan)
        check_default_plan(plans, settings.signup_plan, "PDFPROMPT_SIGNUP_PLAN")
    return plans


async def upgrade_database(settings: Settings) -> None:
    """Apply the migrations the database lacks."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def account_store(settings: Settings) -> AsyncIterator[AccountStore]:
    """The account store alone, for the administration commands."""
    plans = plans_in_force(settings)
    engine = await open_database(settings)
    accounts = open_accounts(engine, settings, plans)
    try:
        yield accounts
    finally:
        await accounts.aclose()
        await engine.dispose()


def open_accounts(engine: AsyncEngine, settings: Settings, plans: dict[str, Plan]) -> AccountStore:
    """The account store on `engine` with the plans in force."""
    return AccountStore(
        engine,
        cache_ttl_s=settings.subscription_cache_ttl_s,
        plans=plans,
        default_plan=settings.default_plan,
    )


def open_sessions(engine: AsyncEngine, settings: Settings) -> SessionStore:
    """The browser sessions (and sign-in links) on `engine`, with the configured lifetimes."""
    return SessionStore(
        engine,
        idle_s=settings.session_idle_hours * 3600,
        absolute_s=settings.session_max_days * 86400,
    )

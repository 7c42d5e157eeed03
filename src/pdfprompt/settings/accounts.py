"""Settings of `pdfprompt.accounts`: plans, keys, the limits counted per user or address, and
browser sessions."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field


class AccountsSettings(BaseModel):
    """Users, their plans and keys, and the rate limits counted against them. A plan's
    limits apply under the server-wide ones (README, "Plans, quotas and keys")."""

    plans_file: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_PLANS_FILE"),
        description=(
            'TOML file changing the built-in plans or adding plans (README, "Plans, quotas '
            'and keys"); read at start, and a bad file stops the start. Unset: the built-in '
            "plans."
        ),
    )
    default_plan: str = Field(
        default="enterprise",
        validation_alias=AliasChoices("PDFPROMPT_DEFAULT_PLAN"),
        description=(
            "Plan of users made by `pdfprompt users create` without `--plan` (the operator "
            "creates them on purpose, hence no limits by default); must name a plan."
        ),
    )
    max_keys_per_user: int = Field(
        default=50,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_KEYS_PER_USER"),
        description=(
            "Live API keys (neither revoked nor expired) a user may make through the API "
            "(`409` above); the operator's `pdfprompt keys create` does not count against it."
        ),
    )
    subscription_cache_ttl_s: float = Field(
        default=300.0,
        ge=0,
        validation_alias=AliasChoices("PDFPROMPT_SUBSCRIPTION_CACHE_TTL_S"),
        description=(
            "Seconds an API process trusts a key that authenticated, and its plan, from memory "
            "(never past the key's expiry). Revoking a key or changing its user is seen at once "
            "by the process that did it and, on PostgreSQL, by every other; on SQLite a change "
            "made by the CLI reaches a running server within this time."
        ),
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_REDIS_URL"),
        description=(
            "Redis through which several API nodes share the per-user and per-address rate "
            "limits (requests pass, with a warning, while Redis cannot be reached). Unset: "
            "each process counts on its own."
        ),
    )
    share_rate_limit_per_minute: int = Field(
        default=120,
        ge=0,
        validation_alias=AliasChoices("PDFPROMPT_SHARE_RATE_LIMIT_PER_MINUTE"),
        description=(
            "Requests to a share link (`/s/{token}`) per client address and minute (`429` "
            "above; shared through Redis like the per-user limits). 0: unlimited."
        ),
    )
    session_idle_hours: float = Field(
        default=72.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_SESSION_IDLE_HOURS"),
        description=(
            "Hours a signed-in browser session lasts without being used; using it (at most "
            "noted once a minute) starts the time again."
        ),
    )
    session_max_days: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_SESSION_MAX_DAYS"),
        description=(
            "Days after signing in that a browser session ends however much it is used; "
            "the person signs in again."
        ),
    )
    signup: Literal["open", "closed"] = Field(
        default="open",
        validation_alias=AliasChoices("PDFPROMPT_SIGNUP"),
        description=(
            "`open`: anyone may make an account on the web pages (`/signup`); `closed`: only "
            "the operator makes accounts (`pdfprompt users create EMAIL --password`)."
        ),
    )
    signup_plan: str = Field(
        default="starter",
        validation_alias=AliasChoices("PDFPROMPT_SIGNUP_PLAN"),
        description=(
            "Plan of the accounts people make themselves on the web pages; must name a plan "
            "(checked at start, like `PDFPROMPT_DEFAULT_PLAN`)."
        ),
    )

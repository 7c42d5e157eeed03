"""Users, API keys, plans, usage, rate limits, share links, passwords, browser sessions and
signing certificates (their keys sealed at rest)."""

from pdfprompt.accounts.assets import AssetStore
from pdfprompt.accounts.certificates import CertificateStore, Sealer
from pdfprompt.accounts.keys import ALL_SCOPES, IssuedKey, hash_key
from pdfprompt.accounts.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    check_password_rules,
)
from pdfprompt.accounts.plans import check_default_plan, load_plans
from pdfprompt.accounts.principals import ACCOUNTS_CHANNEL, Principal
from pdfprompt.accounts.ratelimit import (
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter_for,
)
from pdfprompt.accounts.session_rows import WebSession
from pdfprompt.accounts.sessions import SessionStore, prune_sessions
from pdfprompt.accounts.shares import Share, ShareStore
from pdfprompt.accounts.store import AccountStore
from pdfprompt.accounts.users import MAX_EMAIL_CHARS, WRONG_PASSWORD, User

__all__ = [
    "ACCOUNTS_CHANNEL",
    "ALL_SCOPES",
    "MAX_EMAIL_CHARS",
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "WRONG_PASSWORD",
    "AccountStore",
    "AssetStore",
    "CertificateStore",
    "IssuedKey",
    "LocalRateLimiter",
    "Principal",
    "RateLimiter",
    "RedisRateLimiter",
    "Sealer",
    "SessionStore",
    "Share",
    "ShareStore",
    "User",
    "WebSession",
    "check_default_plan",
    "check_password_rules",
    "hash_key",
    "load_plans",
    "prune_sessions",
    "rate_limiter_for",
]

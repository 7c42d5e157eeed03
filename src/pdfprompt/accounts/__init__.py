"""Users, API keys, plans, usage, rate limits and share links."""

from pdfprompt.accounts.keys import ALL_SCOPES, IssuedKey, hash_key
from pdfprompt.accounts.plans import check_default_plan, load_plans
from pdfprompt.accounts.principals import ACCOUNTS_CHANNEL, Principal
from pdfprompt.accounts.ratelimit import (
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter_for,
)
from pdfprompt.accounts.shares import Share, ShareStore
from pdfprompt.accounts.store import AccountStore
from pdfprompt.accounts.users import User

__all__ = [
    "ACCOUNTS_CHANNEL",
    "ALL_SCOPES",
    "AccountStore",
    "IssuedKey",
    "LocalRateLimiter",
    "Principal",
    "RateLimiter",
    "RedisRateLimiter",
    "Share",
    "ShareStore",
    "User",
    "check_default_plan",
    "hash_key",
    "load_plans",
    "rate_limiter_for",
]

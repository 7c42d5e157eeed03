"""Users and API keys (plans, quotas and usage join in later)."""

from pdfprompt.accounts.keys import (
    ALL_SCOPES,
    AccountStore,
    IssuedKey,
    Principal,
    User,
    hash_key,
)

__all__ = ["ALL_SCOPES", "AccountStore", "IssuedKey", "Principal", "User", "hash_key"]

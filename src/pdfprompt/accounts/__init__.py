"""Users, API keys, plans, usage, share links and webhooks."""

from pdfprompt.accounts.addresses import AddressRule, address_rule, check_url, public_only
from pdfprompt.accounts.delivery import (
    SIGNATURE_HEADER,
    DeliveryConfig,
    WebhookDispatcher,
    WebhookSender,
    sign,
    verify,
)
from pdfprompt.accounts.keys import (
    ACCOUNTS_CHANNEL,
    ALL_SCOPES,
    AccountStore,
    IssuedKey,
    Principal,
    User,
    hash_key,
)
from pdfprompt.accounts.plans import check_default_plan, load_plans
from pdfprompt.accounts.ratelimit import (
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter_for,
)
from pdfprompt.accounts.shares import Share, ShareStore
from pdfprompt.accounts.webhooks import (
    EVENTS,
    Attempt,
    AttemptOutcome,
    ClaimedDelivery,
    Delivery,
    Webhook,
    WebhookStore,
)

__all__ = [
    "ACCOUNTS_CHANNEL",
    "ALL_SCOPES",
    "EVENTS",
    "SIGNATURE_HEADER",
    "AccountStore",
    "AddressRule",
    "Attempt",
    "AttemptOutcome",
    "ClaimedDelivery",
    "Delivery",
    "DeliveryConfig",
    "IssuedKey",
    "LocalRateLimiter",
    "Principal",
    "RateLimiter",
    "RedisRateLimiter",
    "Share",
    "ShareStore",
    "User",
    "Webhook",
    "WebhookDispatcher",
    "WebhookSender",
    "WebhookStore",
    "address_rule",
    "check_default_plan",
    "check_url",
    "hash_key",
    "load_plans",
    "public_only",
    "rate_limiter_for",
    "sign",
    "verify",
]

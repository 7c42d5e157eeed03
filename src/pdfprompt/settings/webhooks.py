"""Settings of webhook delivery: where events may go, how long to wait and retry, and how
much of it workers do at once."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field


class WebhookSettings(BaseModel):
    """Workers deliver webhook events from a durable outbox; a failed attempt is retried with
    exponential backoff (base doubling up to the cap, with jitter) until the retry window
    since the event has passed (README, "Webhooks")."""

    webhook_allow_private: bool = Field(
        default=False,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_ALLOW_PRIVATE"),
        description=(
            "Deliver to private, loopback and other special-purpose addresses too (inside the "
            "operator's network). Off: such addresses are refused at registration and at "
            "every delivery."
        ),
    )
    webhook_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_TIMEOUT_S"),
        description=(
            "Longest wait, in seconds, for an endpoint's answer (redirects included); no 2xx "
            "by then is a failed attempt."
        ),
    )
    webhook_retry_base_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_RETRY_BASE_S"),
        description=(
            "Backoff before retry n, in seconds: between half and all of "
            "min(`PDFPROMPT_WEBHOOK_RETRY_CAP_S`, this * 2^(n-1))."
        ),
    )
    webhook_retry_cap_s: float = Field(
        default=3600.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_RETRY_CAP_S"),
        description="Longest backoff before a retry, in seconds.",
    )
    webhook_retry_window_s: float = Field(
        default=86400.0,
        ge=0,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_RETRY_WINDOW_S"),
        description=(
            "No retry later than this many seconds after the event; the delivery then fails "
            "for good."
        ),
    )
    webhook_disable_after: int = Field(
        default=5,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_DISABLE_AFTER"),
        description=(
            "Deliveries in a row failed for good that disable an endpoint (its pending "
            "deliveries are given up)."
        ),
    )
    webhook_concurrency: int = Field(
        default=16,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_CONCURRENCY"),
        description="Deliveries a worker sends at once.",
    )
    webhook_poll_ms: int = Field(
        default=250,
        ge=10,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_POLL_MS"),
        description=(
            "Milliseconds between a worker's looks for due deliveries (one indexed read; "
            "nothing is written while nothing is due)."
        ),
    )
    webhook_retention_days: float = Field(
        default=30,
        ge=0,
        validation_alias=AliasChoices("PDFPROMPT_WEBHOOK_RETENTION_DAYS"),
        description=(
            "Ended deliveries are deleted with their attempts this many days after they "
            "ended. 0: kept."
        ),
    )

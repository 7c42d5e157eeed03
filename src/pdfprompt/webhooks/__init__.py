"""Webhooks: the endpoints users register, the outbox of their deliveries, signing, the
address rules, the sender, the dispatch loop and the event payloads.

The room needs the database and the domain only: what an event says about a job or about
usage is looked up through functions its composer passes in (`event_composer`).
"""

from pdfprompt.webhooks.addresses import (
    AddressRule,
    IpAddress,
    Resolve,
    address_rule,
    any_address,
    check_url,
    parse_target,
)
from pdfprompt.webhooks.dispatcher import DeliveryConfig, WebhookDispatcher
from pdfprompt.webhooks.endpoints import Webhook, WebhookStore
from pdfprompt.webhooks.events import (
    EVENTS,
    BatchLookup,
    Compose,
    EventName,
    JobLookup,
    UsageLookup,
    batch_data,
    event_body,
    event_composer,
    job_data,
)
from pdfprompt.webhooks.outbox import (
    Attempt,
    AttemptOutcome,
    ClaimedDelivery,
    Delivery,
    WebhookOutbox,
    prune_deliveries,
)
from pdfprompt.webhooks.sender import WebhookSender
from pdfprompt.webhooks.signing import SIGNATURE_HEADER, sign, verify

__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "AddressRule",
    "Attempt",
    "AttemptOutcome",
    "BatchLookup",
    "ClaimedDelivery",
    "Compose",
    "Delivery",
    "DeliveryConfig",
    "EventName",
    "IpAddress",
    "JobLookup",
    "Resolve",
    "UsageLookup",
    "Webhook",
    "WebhookDispatcher",
    "WebhookOutbox",
    "WebhookSender",
    "WebhookStore",
    "address_rule",
    "any_address",
    "batch_data",
    "check_url",
    "event_body",
    "event_composer",
    "job_data",
    "parse_target",
    "prune_deliveries",
    "sign",
    "verify",
]

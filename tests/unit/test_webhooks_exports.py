"""The webhooks room's public surface: what other rooms (and the service's composition)
import from `pdfprompt.webhooks`, each name defined in the room."""

from __future__ import annotations

import inspect

import pdfprompt.webhooks

EXPORTED = {
    "EVENTS",
    "SIGNATURE_HEADER",
    "AddressRule",
    "Attempt",
    "AttemptOutcome",
    "ClaimedDelivery",
    "Compose",
    "Delivery",
    "DeliveryConfig",
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
    "check_url",
    "event_body",
    "event_composer",
    "job_data",
    "prune_deliveries",
    "public_only",
    "sign",
    "special_purpose",
    "verify",
}


def test_the_room_exports_its_public_names_and_no_private_ones() -> None:
    exported = pdfprompt.webhooks.__all__
    assert set(exported) == EXPORTED
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))  # ruff's order
    for name in exported:
        value = getattr(pdfprompt.webhooks, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith("pdfprompt.webhooks."), name

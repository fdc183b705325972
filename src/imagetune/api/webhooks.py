"""The upscale request's webhook fields, checked before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError

from imagetune.webhooks.addresses import Policy
from imagetune.webhooks.events import parse_filter, to_text

WEBHOOK_DESCRIPTION = (
    "Extension: an absolute http(s) URL (at most 2048 characters) called when the job "
    "starts or ends, signed to the Standard Webhooks specification."
)
FILTER_DESCRIPTION = (
    "Extension: comma-separated events for the webhook: start, completed (default: completed)."
)


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    events: str
    """Canonical comma-separated filter, e.g. ``start,completed``."""


def _invalid(field: str, message: str, value: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


def checked_webhook(
    policy: Policy, url: str | None, events_filter: str | None
) -> WebhookRequest | None:
    """The webhook a request asks for, or None; 422 naming the field that is wrong. The
    filter alone, without a URL, is ignored."""
    if not url:
        return None
    try:
        policy.check_url(url)
    except ValueError as e:
        raise _invalid("webhook", f"webhook {e}", url) from None
    try:
        events = parse_filter(events_filter)
    except ValueError as e:
        raise _invalid("webhook_events_filter", str(e), events_filter or "") from None
    return WebhookRequest(url, to_text(events))

"""Verifying the webhook messages imagetune sends (Standard Webhooks v1), with the
standard library alone.

    from imagetune_client import verify_webhook

    event = verify_webhook(request_body, request_headers, "whsec_...")
    if event["type"] == "job.succeeded":
        print(event["data"]["image_urls"])
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from imagetune_client.errors import ImagetuneClientError

TOLERANCE = 5 * 60
"""Seconds a message's timestamp may be from now, either way (replays are refused)."""


class WebhookVerificationError(ImagetuneClientError):
    """The message is not from the server holding the secret, or is too old or too new:
    answer it with 400 and do not act on it."""


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """The message's JSON (``type``, ``timestamp``, ``data``) once its signature and
    timestamp check out; WebhookVerificationError otherwise.

    ``body`` must be the request body exactly as received (bytes, before any JSON
    parsing); ``headers`` the request's headers (any case); ``secret`` the user's
    ``whsec_...`` secret (``imagetune webhooks secret USER``). A message may carry several
    signatures (during a secret rotation); one that matches is enough.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new")
    try:
        key = base64.b64decode(secret[len("whsec_") :] if secret.startswith("whsec_") else secret)
    except ValueError:
        raise WebhookVerificationError("the secret is not a whsec_ secret") from None
    signed = f"{message_id}.{timestamp}.".encode() + raw
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(signature, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(expected, candidate):
            parsed: dict[str, Any] = json.loads(raw)
            return parsed
    raise WebhookVerificationError("no signature matches the secret")

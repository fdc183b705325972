"""The client's verify_webhook against the service's signer and the reference package."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from imagetune_client import WebhookVerificationError, verify_webhook
from standardwebhooks import Webhook

from imagetune.webhooks.signing import headers, new_secret

BODY = json.dumps({"type": "job.succeeded", "timestamp": "x", "data": {"job_id": "1"}}).encode()


def test_verifies_what_the_service_signs_and_agrees_with_the_reference() -> None:
    secret = new_secret()
    signed = headers([secret], "msg_1", int(time.time()), BODY)

    assert verify_webhook(BODY, signed, secret) == json.loads(BODY)
    assert Webhook(secret).verify(BODY, signed) == json.loads(BODY)
    # The reference's own signature verifies with ours too.
    reference = Webhook(secret).sign("msg_1", datetime.now(UTC), BODY.decode())
    assert verify_webhook(BODY, {**signed, "webhook-signature": reference}, secret)


def test_any_of_several_signatures() -> None:
    old, new = new_secret(), new_secret()
    signed = headers([new, old], "msg_2", int(time.time()), BODY)

    assert verify_webhook(BODY, signed, old)["type"] == "job.succeeded"
    assert verify_webhook(BODY, signed, new)["type"] == "job.succeeded"
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(BODY, signed, new_secret())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY.replace(b'"1"', b'"2"')}, "no signature"),
        ({"webhook-id": "msg_other"}, "no signature"),
        ({"webhook-timestamp": str(int(time.time()) - 3600)}, "too old"),
        ({"webhook-timestamp": str(int(time.time()) + 3600)}, "too old or too new"),
        ({"webhook-signature": None}, "missing"),
    ],
)
def test_refuses_tampering_replays_and_missing_headers(
    change: dict[str, str | bytes | None], reason: str
) -> None:
    secret = new_secret()
    signed = headers([secret], "msg_3", int(time.time()), BODY)
    body = change.pop("body", BODY)
    assert isinstance(body, bytes)
    sent = {k: v for k, v in {**signed, **change}.items() if isinstance(v, str)}

    with pytest.raises(WebhookVerificationError, match=reason):
        verify_webhook(body, sent, secret)

"""Delivering one message: lease it, build and sign its body, send it, record how it went."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, timedelta

from imagetune.jobs.view import job_view
from imagetune.storage.base import Storage
from imagetune.webhooks import signing
from imagetune.webhooks.delivery import DELIVERED, REFUSED, Sender, next_delay
from imagetune.webhooks.outbox import Attempt, Leased, Outbox
from imagetune.webhooks.secrets import WebhookSecrets

log = logging.getLogger(__name__)

LEASE_MARGIN = 10.0
"""Seconds a lease outlasts the attempt's timeout."""


class Courier:
    def __init__(
        self,
        outbox: Outbox,
        secrets: WebhookSecrets,
        sender: Sender,
        storage: Storage,
        *,
        result_url_ttl: int,
        retry_schedule: Sequence[float],
        host: str | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self._secrets = secrets
        self._sender = sender
        self._storage = storage
        self._ttl = result_url_ttl
        self._schedule = tuple(retry_schedule)
        self._host = host
        self._on_outcome = on_outcome
        """Told what each attempt came to: delivered, retried, given_up or refused."""

    def body(self, message: Leased) -> bytes:
        """The message as JSON: the job body as GET /public/v1/job/{id} gave it at the event,
        with fresh result URLs and the webhook's delivery status as it is now."""
        data = job_view(
            message.job,
            self._storage,
            self._ttl,
            self.outbox.status(message.job.id),
            now=self.outbox.clock(),
        )
        timestamp = message.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        document = {
            "type": message.event.value,
            "timestamp": timestamp,
            "data": data.model_dump(mode="json"),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def deliver(self, message_id: str) -> str | None:
        """One attempt at ``message_id`` if it is due and free; its new status, or None when
        there was nothing to do."""
        message = self.outbox.lease(message_id, self._sender.timeout + LEASE_MARGIN)
        if message is None:
            return None
        body = self.body(message)
        at = self.outbox.clock()
        headers = signing.headers(
            self._secrets.signing(message.user_id), message.id, int(at.timestamp()), body
        )
        result = self._sender.send(message.url, headers, body)
        attempts = message.attempts + 1
        delay = next_delay(result, attempts, self._schedule)
        status = self.outbox.record(
            message.id,
            Attempt(
                at=at,
                outcome=result.outcome,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                excerpt=result.excerpt,
                host=self._host,
            ),
            None if delay is None else self.outbox.clock() + timedelta(seconds=delay),
        )
        if self._on_outcome:
            self._on_outcome(attempt_outcome(result.outcome, status, delay))
        log.info(
            "webhook %s %s for job %s: attempt %d %s%s -> %s",
            message.id,
            message.event.value,
            message.job.id,
            attempts,
            result.outcome,
            f" ({result.status_code})" if result.status_code else "",
            status if delay is None else f"retry in {delay:.1f}s",
        )
        return status


def attempt_outcome(result: str, status: str, delay: float | None) -> str:
    """What an attempt came to, in the words operators count it by."""
    if status == DELIVERED:
        return "delivered"
    if result == REFUSED:
        return "refused"
    return "retried" if delay is not None else "given_up"

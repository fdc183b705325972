"""Fixtures for webhook tests: receivers on loopback and a user with a signing secret."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from imagetune.db.database import Database, open_database
from imagetune.db.models import WebhookAttempt, WebhookMessage
from imagetune.webhooks.secrets import WebhookSecrets
from tests.inprocess import InProcessService
from tests.support import ApiClient, ServerProcess, accounts_for, make_image
from tests.webhooks.receivers import Answer, Listener, Receiver

FAST = {
    # Loopback receivers on a test port; retries 0.2 s apart.
    "IMAGETUNE_WEBHOOK_ALLOW_PRIVATE": "1",
    "IMAGETUNE_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2",
    "IMAGETUNE_WORKER_POLL_INTERVAL": "0.05",
}


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*answers: Answer) -> Receiver:
        receiver = Receiver(list(answers) or None).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


@dataclass
class Submitter:
    """A user of a service, with their key and webhook secret, and the service's outbox
    as the database records it."""

    service: InProcessService | ServerProcess
    api: ApiClient
    user_id: int
    database: Database

    @property
    def secret(self) -> str:
        return WebhookSecrets(self.database.sessions).current(self.user_id)

    def submit(
        self, webhook: str | None, events: str | None = None, **fields: str
    ) -> httpx.Response:
        data = {"scale": "1K", **fields}
        if webhook is not None:
            data["webhook"] = webhook
        if events is not None:
            data["webhook_events_filter"] = events
        return self.api.http.post(
            "/public/v1/image-tune/upscale",
            files={"image": ("image.png", make_image(), "application/octet-stream")},
            data=data,
        )

    def job_id(self, webhook: str, events: str | None = None, **fields: str) -> str:
        response = self.submit(webhook, events, **fields)
        assert response.status_code == 200, response.text
        job_id: str = response.json()["job_id"]
        return job_id

    def messages(self, job_id: str) -> list[WebhookMessage]:
        with self.database.sessions() as session:
            return list(
                session.scalars(
                    select(WebhookMessage)
                    .where(WebhookMessage.job_id == uuid.UUID(job_id))
                    .order_by(WebhookMessage.created_at)
                )
            )

    def attempts(self, message_id: str) -> list[WebhookAttempt]:
        with self.database.sessions() as session:
            return list(
                session.scalars(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.message_id == message_id)
                    .order_by(WebhookAttempt.id)
                )
            )

    def job(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.api.job(job_id).json()
        return body


@pytest.fixture
def submitter_for() -> Iterator[Callable[[InProcessService | ServerProcess], Submitter]]:
    opened: list[Submitter] = []

    def make(service: InProcessService | ServerProcess) -> Submitter:
        url = service.env.get("IMAGETUNE_DATABASE_URL")
        accounts = accounts_for(service.data_dir, url)
        name = f"user-{uuid.uuid4().hex[:8]}"
        user = accounts.create_user(name)
        key = accounts.create_key(name).key
        database = open_database(url or f"sqlite:///{service.data_dir / 'imagetune.db'}")
        submitter = Submitter(service, ApiClient(service.client_for(key)), user.id, database)
        opened.append(submitter)
        return submitter

    yield make
    for submitter in opened:
        submitter.api.close()
        submitter.database.close()

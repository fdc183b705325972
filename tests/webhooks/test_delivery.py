"""Webhook delivery end to end, in-process: real workers and a real HTTP receiver on
loopback that verifies every message with the standardwebhooks package."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from imagetune.webhooks.secrets import WebhookSecrets
from tests.conftest import ServiceFactory
from tests.metrics.scraping import scrape, value
from tests.support import wait_until
from tests.webhooks.conftest import FAST, Submitter
from tests.webhooks.receivers import Answer, Receiver

DELIVERIES = "imagetune_webhook_deliveries_total"

ReceiverFactory = Callable[..., Receiver]
SubmitterFor = Callable[..., Submitter]


def ports(*receivers: Receiver) -> dict[str, str]:
    return {"IMAGETUNE_WEBHOOK_ALLOWED_PORTS": ",".join(str(r.port) for r in receivers)}


def delivered(user: Submitter, job_id: str, count: int = 1) -> list[str]:
    """Wait until ``count`` messages of the job are delivered; their statuses."""
    return wait_until(
        lambda: (s := [m.status for m in user.messages(job_id)]).count("delivered") >= count and s,
        what=f"{count} delivered message(s) of job {job_id}",
    )


def test_started_and_succeeded_are_signed_and_carry_the_job_body(
    service_factory: ServiceFactory, receiver_factory: ReceiverFactory, submitter_for: SubmitterFor
) -> None:
    receiver = receiver_factory()
    user = submitter_for(service_factory(**FAST, **ports(receiver)))

    job_id = user.job_id(receiver.url + "?token=abc", "start,completed")
    # Each message is delivered on its own: on a quick job job.succeeded may arrive first.
    messages = [received.verify(user.secret) for received in receiver.wait_for(2)]
    by_type = {message["type"]: message for message in messages}
    started, finished = by_type["job.started"], by_type["job.succeeded"]
    delivered(user, job_id, 2)
    polled = user.job(job_id)

    assert started["data"]["job_id"] == job_id
    assert started["data"]["status"] == "Pending"
    assert started["data"]["started_at"] is not None
    assert finished["timestamp"].endswith("Z")
    data = finished["data"]
    # What GET answers, field for field; result URLs are issued fresh and work.
    same = {k: v for k, v in polled.items() if k not in ("image_urls", "webhook")}
    assert {k: v for k, v in data.items() if k not in ("image_urls", "webhook")} == same
    assert data["status"] == "Succeed"
    assert len(data["image_urls"]) == 1
    assert user.api.download(data["image_urls"][0]).status_code == 200
    assert data["webhook"]["url"] == receiver.url  # the query string is not shown
    assert data["webhook"]["events"] == ["start", "completed"]
    assert polled["webhook"] == {
        "url": receiver.url,
        "events": ["start", "completed"],
        "status": "delivered",
        "attempts": 1,
    }
    assert receiver.received[1].path == "/hook?token=abc"
    assert receiver.received[1].headers["webhook-id"].startswith("msg_")
    assert receiver.received[0].headers["webhook-id"] != receiver.received[1].headers["webhook-id"]


def test_failed_job_sends_job_failed_and_only_completed_by_default(
    service_factory: ServiceFactory, receiver_factory: ReceiverFactory, submitter_for: SubmitterFor
) -> None:
    receiver = receiver_factory()
    # Each job takes 3 s and may take 0.5: it ends Failed (timed out).
    service = service_factory(
        processor="sleep:3", IMAGETUNE_JOB_TIMEOUT="0.5", **FAST, **ports(receiver)
    )
    user = submitter_for(service)

    job_id = user.job_id(receiver.url)
    (message,) = (r.verify(user.secret) for r in receiver.wait_for(1))
    delivered(user, job_id)

    assert message["type"] == "job.failed"
    assert message["data"]["status"] == "Failed"
    assert message["data"]["error"] == user.job(job_id)["error"]
    assert len(user.messages(job_id)) == 1  # no job.started: not in the default filter


def test_no_webhook_no_messages_and_null_in_the_body(
    service_factory: ServiceFactory, submitter_for: SubmitterFor
) -> None:
    user = submitter_for(service_factory(**FAST))
    response = user.submit(None)
    job_id = response.json()["job_id"]

    assert user.api.wait(job_id)["webhook"] is None
    assert user.messages(job_id) == []


def test_a_receiver_that_fails_twice_gets_the_same_message_three_times(
    service_factory: ServiceFactory, receiver_factory: ReceiverFactory, submitter_for: SubmitterFor
) -> None:
    receiver = receiver_factory(Answer(500, body=b"boom"), Answer(502), Answer(200))
    service = service_factory(**FAST, **ports(receiver))
    user = submitter_for(service)

    job_id = user.job_id(receiver.url)
    received = receiver.wait_for(3)
    delivered(user, job_id)

    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert all(r.verify(user.secret)["type"] == "job.succeeded" for r in received)
    (message,) = user.messages(job_id)
    attempts = user.attempts(message.id)
    assert [(a.outcome, a.status_code) for a in attempts] == [
        ("failed", 500),
        ("failed", 502),
        ("delivered", 200),
    ]
    assert attempts[0].excerpt == "boom"
    assert all(a.duration_ms >= 0 and a.attempted_at for a in attempts)
    assert user.job(job_id)["webhook"]["attempts"] == 3
    samples = scrape(service.http)
    counted = {o: value(samples, DELIVERIES, outcome=o) for o in ("retried", "delivered")}
    assert counted == {"retried": 2, "delivered": 1}


def test_410_stops_and_a_redirect_is_not_followed(
    service_factory: ServiceFactory, receiver_factory: ReceiverFactory, submitter_for: SubmitterFor
) -> None:
    gone = receiver_factory(Answer(410))
    target = receiver_factory()
    redirect = receiver_factory(Answer(307, headers={"location": target.url}))
    user = submitter_for(service_factory(**FAST, **ports(gone, target, redirect)))

    gone_job = user.job_id(gone.url)
    redirect_job = user.job_id(redirect.url)
    # The redirect is a failure, retried on the schedule until it is used up (3 attempts).
    wait_until(
        lambda: [m.status for m in user.messages(redirect_job)] == ["failed"],
        what="the redirected message given up",
    )
    wait_until(lambda: user.messages(gone_job)[0].status == "failed", what="410 recorded")

    assert len(redirect.received) == 3
    assert [a.status_code for a in user.attempts(user.messages(redirect_job)[0].id)] == [307] * 3
    assert target.received == []
    # 410 was answered once, and by now the schedule (0.2 s, 0.2 s) has long passed.
    assert len(gone.received) == 1
    assert [a.outcome for a in user.attempts(user.messages(gone_job)[0].id)] == ["gone"]
    assert user.job(gone_job)["webhook"]["status"] == "failed"


def test_a_receiver_that_hangs_past_the_timeout_is_retried(
    service_factory: ServiceFactory, receiver_factory: ReceiverFactory, submitter_for: SubmitterFor
) -> None:
    receiver = receiver_factory(Answer(200, delay=3.0), Answer(200))
    user = submitter_for(
        service_factory(**FAST, IMAGETUNE_WEBHOOK_TIMEOUT="0.5", **ports(receiver))
    )

    job_id = user.job_id(receiver.url)
    first, second = receiver.wait_for(2)
    delivered(user, job_id)

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    (message,) = user.messages(job_id)
    assert [(a.outcome, a.excerpt) for a in user.attempts(message.id)] == [
        ("failed", "timed out"),
        ("delivered", "ok"),
    ]


def test_after_a_rotation_both_secrets_verify_for_the_overlap(
    service_factory: ServiceFactory, receiver_factory: ReceiverFactory, submitter_for: SubmitterFor
) -> None:
    receiver = receiver_factory()
    user = submitter_for(service_factory(**FAST, **ports(receiver)))
    old = user.secret
    new = WebhookSecrets(user.database.sessions).rotate(user.user_id)

    user.job_id(receiver.url)
    (received,) = receiver.wait_for(1)

    assert new != old
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert received.verify(old) == received.verify(new)
    assert received.verify(new)["type"] == "job.succeeded"
    # A stranger's secret does not verify.
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(received.body, received.headers)

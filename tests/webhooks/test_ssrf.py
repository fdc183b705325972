"""With the address rule on (the default): webhooks never reach the service's own
network. Literal addresses are refused at submission (422); a name that resolves to one
is refused at delivery and recorded; in neither case does a connection reach the target
(a loopback listener counts them)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest

from imagetune.webhooks.addresses import Policy
from imagetune.webhooks.delivery import REFUSED, Sender
from tests.conftest import ServiceFactory
from tests.inprocess import InProcessService
from tests.support import ApiClient, make_image, wait_until
from tests.webhooks.conftest import Submitter
from tests.webhooks.receivers import Listener

SubmitterFor = Callable[..., Submitter]

LITERALS = [
    "127.0.0.1",
    "[::1]",
    "0.0.0.0",
    "10.0.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "localhost",
]


def loopback_name() -> str:
    """A name (not localhost) that this machine resolves to a loopback address."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback"):
        try:
            infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
        except OSError:
            continue
        if name != "localhost" and all(
            ipaddress.ip_address(info[4][0]).is_loopback for info in infos
        ):
            return name
    pytest.skip("no host name resolves to loopback here")


def test_literal_addresses_are_refused_at_submission_and_never_reached(
    service_factory: ServiceFactory, submitter_for: SubmitterFor, listener: Listener
) -> None:
    port = str(listener.port)
    user = submitter_for(service_factory(IMAGETUNE_WEBHOOK_ALLOWED_PORTS=f"80,443,{port}"))

    for host in LITERALS:
        for url in (f"http://{host}/hook", f"http://{host}:{port}/hook"):
            response = user.submit(url)
            assert response.status_code == 422, (url, response.text)
            (error,) = response.json()["detail"]
            assert error["loc"] == ["body", "webhook"]
            assert "private, loopback or reserved" in error["msg"]

    assert listener.accepted == 0


@pytest.mark.parametrize("host", LITERALS)
def test_the_sender_refuses_them_too_without_connecting(host: str, listener: Listener) -> None:
    """Defence in depth: a message aimed at one (say, written before the rule changed) is
    refused at delivery, before any connection."""
    sender = Sender(Policy(allowed_ports=(listener.port,)), timeout=2)
    result = sender.send(f"http://{host}:{listener.port}/hook", {}, b"{}")

    assert result.outcome == REFUSED
    assert listener.accepted == 0


def test_a_name_that_resolves_to_loopback_is_refused_at_delivery_and_recorded(
    service_factory: ServiceFactory, submitter_for: SubmitterFor, listener: Listener
) -> None:
    name = loopback_name()
    user = submitter_for(
        service_factory(
            IMAGETUNE_WEBHOOK_ALLOWED_PORTS=str(listener.port),
            IMAGETUNE_WEBHOOK_RETRY_SCHEDULE="0.2,0.2",
            IMAGETUNE_WORKER_POLL_INTERVAL="0.05",
        )
    )

    job_id = user.job_id(f"http://{name}:{listener.port}/hook")
    (message,) = wait_until(
        lambda: [m for m in user.messages(job_id) if m.status != "pending"],
        what="the message refused",
    )

    assert message.status == "failed"
    (attempt,) = user.attempts(message.id)  # refused once, never retried
    assert attempt.outcome == REFUSED
    assert attempt.excerpt is not None
    assert "127.0.0.1" in attempt.excerpt or "::1" in attempt.excerpt
    assert user.job(job_id)["webhook"]["status"] == "failed"
    assert listener.accepted == 0


def test_the_rule_lifted_reaches_the_listener(listener: Listener) -> None:
    """The listener does count connections: the refusals above are real."""
    sender = Sender(Policy(allowed_ports=(listener.port,), allow_private=True), timeout=2)
    sender.send(f"http://127.0.0.1:{listener.port}/hook", {}, b"{}")

    wait_until(lambda: listener.accepted == 1, what="one connection")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"webhook": "not a url"}, "webhook"),
        ({"webhook": "ftp://example.com/hook"}, "webhook"),
        ({"webhook": "https://user:secret@example.com/hook"}, "webhook"),
        ({"webhook": "https://example.com:8080/hook"}, "webhook"),
        ({"webhook": "https://example.com/" + "x" * 2100}, "webhook"),
        (
            {"webhook": "https://example.com/hook", "webhook_events_filter": "start,finished"},
            "webhook_events_filter",
        ),
    ],
)
def test_bad_webhook_fields_get_422_naming_the_field(
    shared_server: InProcessService,
    client_factory: Callable[..., ApiClient],
    fields: dict[str, str],
    field: str,
) -> None:
    api = client_factory(shared_server)
    response = api.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("image.png", make_image(), "application/octet-stream")},
        data={"scale": "1K", **fields},
    )

    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field]

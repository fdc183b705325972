"""Never lost: a message survives kill -9 of the whole service, and on the fleet a worker
host that did not run the job delivers it when the one that did dies."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import ServerFactory, WorkerFactory
from tests.databases import fresh_postgres_database
from tests.support import wait_until
from tests.webhooks.conftest import FAST, Submitter
from tests.webhooks.receivers import Answer, Receiver

pytestmark = pytest.mark.slow

ReceiverFactory = Callable[..., Receiver]
SubmitterFor = Callable[..., Submitter]

HANG = Answer(200, delay=60.0)
"""The first attempt hangs, so the test knows the job has ended and the message is in hand
when it kills the deliverer."""


def test_kill_9_right_after_a_job_finishes_then_restart_delivers(
    server_factory: ServerFactory,
    receiver_factory: ReceiverFactory,
    submitter_for: SubmitterFor,
) -> None:
    receiver = receiver_factory(HANG, Answer(200))
    env = {**FAST, "IMAGETUNE_WEBHOOK_ALLOWED_PORTS": str(receiver.port)}
    server = server_factory(processor="sleep:0", **env)
    user = submitter_for(server)
    job_id = user.job_id(receiver.url)
    (first,) = receiver.wait_for(1)  # the job is done and its message is being delivered

    server.kill()
    restarted = server_factory(processor="sleep:0", **env)
    first, second = receiver.wait_for(2)

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.verify(user.secret)["data"]["job_id"] == job_id
    wait_until(lambda: user.messages(job_id)[0].status == "delivered", what="delivered")
    restarted.stop()


def test_on_postgresql_a_host_that_did_not_run_the_job_delivers(
    server_factory: ServerFactory,
    worker_factory: WorkerFactory,
    receiver_factory: ReceiverFactory,
    submitter_for: SubmitterFor,
) -> None:
    """Host A runs the job and starts delivering; it dies mid-attempt. Host B, started
    only then (so it cannot have run the job), finds the message stranded and delivers."""
    receiver = receiver_factory(HANG, Answer(200))
    with fresh_postgres_database() as url:
        env = {
            **FAST,
            "IMAGETUNE_DATABASE_URL": url,
            "IMAGETUNE_WEBHOOK_ALLOWED_PORTS": str(receiver.port),
            # Leases run out soon after a deliverer dies, and hosts sweep often.
            "IMAGETUNE_WEBHOOK_TIMEOUT": "1",
            "IMAGETUNE_WORKER_HEARTBEAT_INTERVAL": "0.5",
            "IMAGETUNE_WORKER_STALL_TIMEOUT": "2",
        }
        api = server_factory(args=("--no-workers",), processor="sleep:0", **env)
        host_a = worker_factory("host-a", processor="sleep:0", **env)
        user = submitter_for(api)
        job_id = user.job_id(receiver.url)
        receiver.wait_for(1)
        assert f"job {job_id} done" in host_a.log()

        host_a.kill()
        host_b = worker_factory("host-b", processor="sleep:0", **env)
        first, second = receiver.wait_for(2, timeout=60)

        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert second.verify(user.secret)["type"] == "job.succeeded"
        (message,) = wait_until(
            lambda: [m for m in user.messages(job_id) if m.status == "delivered"],
            what="delivered",
        )
        assert [(a.outcome, a.host) for a in user.attempts(message.id)] == [("delivered", "host-b")]
        assert f"job {job_id} done" not in host_b.log()
        host_b.kill()
        api.kill()
        user.database.close()

"""The service scaled out: API processes and worker hosts as separate `imagetune` commands
sharing one PostgreSQL database (and, for the fleet test, one S3-compatible store)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from imagetune.db.engine import make_engine, normalize_url
from tests.conftest import ClientFactory, ServerFactory, WorkerFactory
from tests.databases import POSTGRES_URL, fresh_postgres_database
from tests.objectstores import S3_ENV
from tests.support import ApiClient, WorkerHost, make_image, open_image

pytestmark = pytest.mark.slow

FAST_HEARTBEATS = {
    "IMAGETUNE_WORKER_HEARTBEAT_INTERVAL": "1",
    "IMAGETUNE_WORKER_STALL_TIMEOUT": "4",
}
BIG = (900, 650)
PER_MP = "per-mp:10"
"""Workers' jobs take 10 s per megapixel of original (tests.processors): a BIG job about
6 s, long enough to be caught mid-job on a loaded machine (at 3 s a busy test runner once
saw it start too late); the small ones a fraction of a second."""


@pytest.fixture
def postgres() -> Iterator[tuple[str, Engine]]:
    with fresh_postgres_database() as url:
        engine = make_engine(url)
        yield url, engine
        engine.dispose()


def job_row(engine: Engine, job_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT state, attempts, worker_id FROM jobs WHERE id = :id"), {"id": job_id}
        ).one()
        return dict(row._mapping)


def wait_running(engine: Engine, job_id: str, host: str = "", timeout: float = 30) -> str:
    """Wait until a worker (of ``host``, when given) runs the job; that worker's id."""
    deadline = time.monotonic() + timeout
    while (row := job_row(engine, job_id))["state"] != "running" or not str(
        row["worker_id"]
    ).startswith(host):
        assert time.monotonic() < deadline, f"job {job_id} never started: {row}"
        time.sleep(0.05)
    return str(row["worker_id"])


def test_two_apis_and_three_workers_lose_nothing_when_a_worker_dies(
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    worker_factory: WorkerFactory,
    postgres: tuple[str, Engine],
    s3_bucket: tuple[Any, str],
    tmp_path: Path,
) -> None:
    url, engine = postgres
    s3, bucket = s3_bucket
    env = {
        **S3_ENV,
        **FAST_HEARTBEATS,
        "IMAGETUNE_DATABASE_URL": url,
        "IMAGETUNE_STORAGE_URL": f"s3://{bucket}/fleet",
        "IMAGETUNE_S3_ENDPOINT_URL": s3.meta.endpoint_url,
        "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
        "IMAGETUNE_MAX_UNFINISHED_PER_USER": "0",
        "IMAGETUNE_SECRET_KEY": "shared-by-every-api-node-" + "x" * 16,
    }
    # Each process has its own data directory, as on separate machines.
    apis = [server_factory(tmp_path / f"api-{n}", args=("--no-workers",), **env) for n in (1, 2)]
    hosts = {
        name: worker_factory(name, tmp_path / name, processor=PER_MP, **env)
        for name in ("w1", "w2", "w3")
    }
    first = client_factory(apis[0])
    key = first.http.headers["Authorization"].removeprefix("Bearer ")
    clients = [first, client_factory(apis[1], key=key)]

    # A long job first (the one to catch mid-job), then 11 short ones; through both APIs.
    # No 4K: what is tested is that none is lost, and a 4K PNG through the object store
    # cost seconds of CPU (sizes have their own tests).
    sizes = [BIG] + [(160, 120)] * 11
    scales = ["2K"] + ["1K", "2K"] * 5 + ["1K"]
    submitted: list[tuple[ApiClient, str, str]] = []
    for client, size, scale in zip(itertools.cycle(clients), sizes, scales, strict=False):
        response = client.submit(make_image(size, seed=len(submitted)), scale)
        assert response.status_code == 200, response.text
        submitted.append((client, response.json()["job_id"], scale))

    victim_job = submitted[0][1]
    victim = hosts[wait_running(engine, victim_job).split(":")[0]]
    time.sleep(0.5)
    assert job_row(engine, victim_job)["state"] == "running"  # mid-job
    victim.kill()

    expected = {"1K": 1024, "2K": 2048}
    for client, job_id, scale in submitted:
        job = client.wait(job_id, timeout=180)
        assert job["status"] == "Succeed", job
        [image_url] = job["image_urls"]
        assert image_url.startswith(s3.meta.endpoint_url)  # presigned, straight from the store
        result = client.download(image_url)
        assert result.status_code == 200
        assert max(open_image(result.content).size) == expected[scale]

    listing = s3.list_objects_v2(Bucket=bucket, Prefix="fleet/results/")
    keys = sorted(item["Key"] for item in listing.get("Contents", []))
    assert keys == sorted(f"fleet/results/{job_id}.png" for _, job_id, _ in submitted)
    assert job_row(engine, victim_job)["attempts"] == 2
    survivors = [host for host in hosts.values() if host is not victim]
    assert any("took back jobs of stalled workers" in host.log() for host in survivors)
    for api in apis:
        api.assert_no_server_errors()


@dataclass
class OneBusyHost:
    """An API node and one worker host on PostgreSQL, the host in the middle of a job."""

    client: ApiClient
    host: WorkerHost
    engine: Engine
    job_id: str


@pytest.fixture
def busy_host(
    request: pytest.FixtureRequest,
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    worker_factory: WorkerFactory,
    postgres: tuple[str, Engine],
) -> OneBusyHost:
    url, engine = postgres
    api = server_factory(args=("--no-workers",), IMAGETUNE_DATABASE_URL=url)
    client = client_factory(api)
    grace, processor = request.param
    host = worker_factory(
        "w1", IMAGETUNE_DATABASE_URL=url, IMAGETUNE_SHUTDOWN_GRACE=grace, processor=processor
    )
    job_id = client.submit(make_image(BIG), "1K").json()["job_id"]
    wait_running(engine, job_id)
    return OneBusyHost(client, host, engine, job_id)


@pytest.mark.parametrize(
    "busy_host", [pytest.param(("120", "sleep:3"), id="grace-120s")], indirect=True
)
def test_sigterm_lets_a_worker_finish_its_job(busy_host: OneBusyHost) -> None:
    assert busy_host.host.stop() == 0
    assert "Warning" not in busy_host.host.log()  # a clean stop: no leaked semaphores
    # Finished before the host exited.
    assert busy_host.client.job(busy_host.job_id).json()["status"] == "Succeed"
    assert job_row(busy_host.engine, busy_host.job_id)["attempts"] == 1


@pytest.mark.parametrize(
    "busy_host", [pytest.param(("0.5", "sleep:600"), id="grace-0.5s")], indirect=True
)
def test_sigterm_past_the_grace_period_hands_the_job_back(
    busy_host: OneBusyHost, worker_factory: WorkerFactory, postgres: tuple[str, Engine]
) -> None:
    engine, job_id = busy_host.engine, busy_host.job_id
    assert busy_host.host.stop() == 0
    assert job_row(engine, job_id) == {"state": "queued", "attempts": 0, "worker_id": None}
    assert "handed 1 unfinished job(s) back" in busy_host.host.log()

    worker_factory("w2", IMAGETUNE_DATABASE_URL=postgres[0], processor="sleep:0")
    assert busy_host.client.wait(job_id, timeout=60)["status"] == "Succeed"
    assert job_row(engine, job_id)["attempts"] == 1


def test_a_job_whose_workers_keep_dying_fails_after_the_attempt_limit(
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    worker_factory: WorkerFactory,
    postgres: tuple[str, Engine],
) -> None:
    url, engine = postgres
    env = {**FAST_HEARTBEATS, "IMAGETUNE_DATABASE_URL": url, "IMAGETUNE_MAX_ATTEMPTS": "2"}
    api = server_factory(args=("--no-workers",), **env)
    client = client_factory(api)
    job_id = client.submit(make_image(BIG), "4K").json()["job_id"]

    for attempt, name in enumerate(["w1", "w2"], start=1):
        host = worker_factory(name, processor="sleep:600", **env)
        wait_running(engine, job_id, host=f"{name}:")
        assert job_row(engine, job_id)["attempts"] == attempt
        host.kill()
    # The next host's sweeper finds the job's last worker silent, and no attempt left.
    worker_factory("w3", processor="sleep:0", **env)
    job = client.wait(job_id, timeout=60)
    assert job["status"] == "Failed"
    assert "interrupted 2 times" in job["error"]


def test_worker_command_on_the_embedded_database(
    server_factory: ServerFactory, client_factory: ClientFactory, worker_factory: WorkerFactory
) -> None:
    api = server_factory(args=("--no-workers",))
    client = client_factory(api)
    worker_factory("w1", processor="sleep:0")
    job = client.upscale(make_image((60, 40)), "1K")
    assert job["status"] == "Succeed"
    # SQLite lives on one host: a second worker host on the same data is refused.
    with pytest.raises(RuntimeError, match="another imagetune server is running workers"):
        worker_factory("w2", processor="sleep:0")


def test_a_worker_host_rides_out_a_database_outage(
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    worker_factory: WorkerFactory,
    postgres: tuple[str, Engine],
) -> None:
    url, _ = postgres
    env = {**FAST_HEARTBEATS, "IMAGETUNE_DATABASE_URL": url}
    api = server_factory(args=("--no-workers",), **env)
    client = client_factory(api)
    host = worker_factory("w1", processor="sleep:0", **env)
    name = url.rpartition("/")[2]
    admin = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        # The database refuses connections and drops every open one, for five seconds.
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        time.sleep(5)
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    admin.dispose()

    job = client.upscale(make_image((60, 40)), "1K")
    assert job["status"] == "Succeed", job
    assert host.process is not None
    assert host.process.poll() is None
    # The supervisor reported the outage once (and its end), not twice a second.
    assert host.log().count("supervising workers failed") <= 1

"""PostgreSQL of the test's own stopped mid-stream and started again: submissions and
polls answer 503 meanwhile (never 500), readiness says "database", every accepted job
ends Succeed, and the API and its fleet worker reconnect by themselves."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagetune.errors import ServiceUnavailable
from tests.clusters import Cluster, pg_binary
from tests.conftest import ClientFactory
from tests.databases import service_missing
from tests.inprocess import InProcessService
from tests.support import make_image


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if pg_binary("initdb") is None:
        service_missing("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    # Under /tmp, not pytest's own directory: the server runs as the postgres user.
    where = Path(tempfile.mkdtemp(prefix="imagetune-pg-"))
    own = Cluster(where)
    try:
        yield own
    finally:
        own.close()
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.slow
def test_a_database_outage(cluster: Cluster, tmp_path: Path, client_factory: ClientFactory) -> None:
    service = InProcessService(
        tmp_path / "data",
        IMAGETUNE_DATABASE_URL=cluster.url,
        IMAGETUNE_WORKER_HEARTBEAT_INTERVAL="0.5",
        IMAGETUNE_WORKER_STALL_TIMEOUT="2",
    ).start()
    try:
        client = client_factory(service)
        accepted = [client.submit(make_image(), "1K").json()["job_id"] for _ in range(3)]

        cluster.stop()
        refused = client.submit(make_image(), "1K")
        assert (refused.status_code, refused.json()) == (503, {"detail": ServiceUnavailable.detail})
        assert "Retry-After" in refused.headers
        assert client.job(accepted[0]).status_code == 503
        ready = service.http.get("/readyz")
        assert ready.status_code == 503
        assert "database" in ready.json()["problems"]

        cluster.start()
        deadline = time.monotonic() + 30
        while (answer := client.submit(make_image(), "1K")).status_code != 200:
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "submissions never came back"
            time.sleep(0.2)
        accepted.append(answer.json()["job_id"])
        assert [client.wait(job_id)["status"] for job_id in accepted] == ["Succeed"] * 4
        assert service.http.get("/readyz").status_code == 200
    finally:
        service.stop()

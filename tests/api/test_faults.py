"""Transient faults of the infrastructure answer 503 with Retry-After and a public
message, leave nothing behind, and readiness names what is wrong."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from imagetune.accounts import Accounts
from imagetune.cli.main import app as cli
from imagetune.db.models import Job
from imagetune.errors import ServiceUnavailable
from imagetune.jobs.store import JobStore
from imagetune.storage.base import StorageFull
from imagetune.storage.local import LocalStorage
from tests.conftest import ClientFactory
from tests.inprocess import InProcessService
from tests.support import accounts_for, make_image

UNAVAILABLE = {"detail": ServiceUnavailable.detail}


def database_away(*_: object, **__: object) -> None:
    raise OperationalError("SELECT", {}, Exception("connection to server refused"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    # No disk has this much free: local storage reports itself not ready.
    server = InProcessService(
        tmp_path_factory.mktemp("faults"),
        IMAGETUNE_WORKERS="0",
        IMAGETUNE_STORAGE_MIN_FREE_MB=str(2**40),
    ).start()
    yield server
    server.stop()


def stored_originals(service: InProcessService) -> list[Path]:
    return list((service.data_dir / "files").glob("originals/*"))


def job_count(service: InProcessService) -> int:
    with accounts_for(service.data_dir)._sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_storage_full_is_503_and_leaves_nothing_behind(
    service: InProcessService, client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_factory(service)
    jobs_before = job_count(service)

    def full(self: LocalStorage, key: str, data: bytes) -> None:
        raise StorageFull("no space left to write")

    monkeypatch.setattr(LocalStorage, "write", full)
    response = client.submit(make_image(), "1K")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert int(response.headers["Retry-After"]) >= 1
    assert stored_originals(service) == []
    assert job_count(service) == jobs_before


def test_database_away_at_record_is_503_and_the_original_is_deleted(
    service: InProcessService, client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_factory(service)
    monkeypatch.setattr(JobStore, "create", database_away)
    response = client.submit(make_image(), "1K")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert stored_originals(service) == []


def test_polls_and_authentication_with_the_database_away_are_503(
    service: InProcessService, client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    known, new = client_factory(service), client_factory(service)
    job_id = known.submit(make_image(), "1K").json()["job_id"]
    monkeypatch.setattr(JobStore, "get_many", database_away)
    polled = known.job(job_id)
    assert (polled.status_code, polled.json()) == (503, UNAVAILABLE)
    # A key not yet vouched for cannot be checked: 503, not 401 (nor 500).
    monkeypatch.setattr(Accounts, "authenticate", database_away)
    refused = new.job(job_id)
    assert (refused.status_code, refused.json()) == (503, UNAVAILABLE)
    assert "Retry-After" in refused.headers


def test_readiness_names_the_storage_below_its_free_space_minimum(
    service: InProcessService,
) -> None:
    response = service.http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["storage"]) == ("unavailable", True, False)
    assert "below the" in body["problems"]["storage"]
    assert set(body["problems"]) == {"storage"}
    assert service.http.get("/healthz").status_code == 200  # liveness is not readiness


@pytest.mark.slow
def test_a_worker_crash_loop_shows_in_readiness_and_status(service_factory) -> None:
    server = service_factory(
        processor="broken:the model file cannot be loaded",
        IMAGETUNE_WORKER_START_DEADLINE="0.1",
        IMAGETUNE_WORKER_HEARTBEAT_INTERVAL="0.2",
        IMAGETUNE_WORKER_STALL_TIMEOUT="1",
    )
    deadline = time.monotonic() + 30
    while True:
        body = server.http.get("/readyz").json()
        if "has started" in body["problems"].get("workers", "") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "no worker process has started" in body["problems"]["workers"]
    assert "RuntimeError: the model file cannot be loaded" in body["problems"]["workers"]
    while True:  # the host reports at its next sweep
        status = CliRunner().invoke(
            cli, ["status", "--json"], env={"IMAGETUNE_DATA_DIR": str(server.data_dir)}
        )
        assert status.exit_code == 0, status.output
        [host] = json.loads(status.stdout)["worker_hosts"]
        if host["failing_since"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert host["alive"] == 0
    assert host["failing_since"] is not None
    assert "the model file cannot be loaded" in host["last_error"]

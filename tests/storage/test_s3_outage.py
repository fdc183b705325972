"""The S3 server (moto) stopped while a job runs and started again: submissions answer
503 meanwhile, readiness says "storage", the job is handed back instead of failed, and
it succeeds once the store is back."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from imagetune.errors import ServiceUnavailable
from tests.conftest import ClientFactory
from tests.inprocess import InProcessService
from tests.objectstores import S3_ENV
from tests.support import free_port, make_image


def handed_back(database: Path, job_id: str) -> bool:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT faulted_at FROM jobs WHERE id = ?", (uuid.UUID(job_id).hex,)
        ).fetchone()
    return row is not None and row[0] is not None


@pytest.mark.slow
def test_an_object_store_outage(
    tmp_path: Path, client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)  # before the workers are spawned: they inherit it
    # No retries inside botocore, whose back-off would only make each answer slower here.
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="outage")
    gate = tmp_path / "gate"
    service = InProcessService(
        tmp_path / "data",
        processor=f"gate:{gate}",
        IMAGETUNE_STORAGE_URL="s3://outage/service",
        IMAGETUNE_S3_ENDPOINT_URL=endpoint,
    ).start()
    try:
        client = client_factory(service)
        accepted = client.submit(make_image(), "1K").json()["job_id"]
        client.wait_started(accepted)

        moto.stop()
        refused = client.submit(make_image(), "1K")
        assert (refused.status_code, refused.json()) == (503, {"detail": ServiceUnavailable.detail})
        assert "storage" in service.http.get("/readyz").json()["problems"]
        gate.touch()  # its result cannot be stored: handed back, not failed
        deadline = time.monotonic() + 60
        while not handed_back(tmp_path / "data" / "imagetune.db", accepted):
            assert time.monotonic() < deadline, "the job was never handed back"
            time.sleep(0.1)
        assert client.job(accepted).json()["status"] == "Pending"

        # moto keeps its buckets in this process: a new server on the port is the old store.
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        assert client.wait(accepted)["status"] == "Succeed"
        assert client.upscale(make_image(), "1K")["status"] == "Succeed"
        assert service.http.get("/readyz").status_code == 200
    finally:
        service.stop()
        moto.stop()

"""Retries against a real server: 429 with Retry-After, and a server that is not up yet."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
from imagetune_client import APIConnectionError, Client, Model, RateLimited

from tests.client.conftest import new_key
from tests.conftest import ServerFactory
from tests.support import ServerProcess, free_port, make_image

# 20 a minute: a bucket of 20, and one token back every 3 s (the server's Retry-After).
RATE = 20
RETRY_AFTER = 60 / RATE


def exhaust(server: ServerProcess, key: str) -> None:
    """Spend the key's whole bucket on requests that create nothing (each is refused
    after the quota check, for the missing form)."""
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        answers = [http.post("/public/v1/image-tune/upscale").status_code for _ in range(RATE)]
        assert answers == [422] * RATE
        assert http.post("/public/v1/image-tune/upscale").status_code == 429


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]


@pytest.mark.slow
def test_429_is_waited_out_then_the_submission_succeeds(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagetune_client")
    server = server_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_RATE_LIMIT_PER_MINUTE=str(RATE))
    key = new_key(server)
    exhaust(server, key)

    # A Retry-After beyond what the caller will wait: raised at once, not slept on.
    with Client(server.base_url, key, max_retry_after=1.0) as impatient:
        with pytest.raises(RateLimited) as limited:
            impatient.submit(make_image(), scale="1K")
        assert limited.value.status_code == 429
        assert limited.value.retry_after == RETRY_AFTER
        assert limited.value.detail.startswith("Rate limit exceeded")
    with Client(server.base_url, key, max_retries=0) as no_retries, pytest.raises(RateLimited):
        no_retries.submit(make_image(), scale="1K")
    assert retries(caplog) == []

    with Client(server.base_url, key) as patient:
        job = patient.submit(make_image(), scale="1K")
    assert job.status == "Pending"
    logged = retries(caplog)
    assert logged
    assert all(f"in {RETRY_AFTER:.1f} s" in line and "429" in line for line in logged)


@pytest.mark.slow
def test_connection_refused_until_the_server_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagetune_client")
    server = ServerProcess(tmp_path / "data", port=free_port())
    key = new_key(server)  # written to the database the server will open
    result: list[list[Model] | BaseException] = []

    def call() -> None:
        # Enough retries (about a minute of back-off) for a slow machine to start a server.
        with Client(server.base_url, key, max_retries=10) as client:
            try:
                result.append(client.models())
            except BaseException as e:
                result.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    try:
        deadline = time.monotonic() + 30
        while not retries(caplog):  # the first attempt has been refused
            assert time.monotonic() < deadline, "the client never retried"
            time.sleep(0.05)
        server.start()
        caller.join(timeout=120)
    finally:
        server.kill()
    [models] = result
    assert isinstance(models, list), models
    assert {m.name for m in models} >= {"photo", "classic"}
    assert "ConnectError" in retries(caplog)[0]
    server.assert_no_server_errors()


def test_connection_refused_gives_up_after_max_retries() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "key", max_retries=1)
    with client, pytest.raises(APIConnectionError) as refused:
        client.models()
    assert isinstance(refused.value.__cause__, httpx.ConnectError)

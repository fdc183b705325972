"""A real server and keys for the Python client's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from imagetune_client import Client

from tests.support import ServerProcess, accounts_for

# Small, so that the 413 test needs no large upload; every image here is far smaller.
MAX_UPLOAD_BYTES = 200_000


def new_key(server: ServerProcess, user: str | None = None) -> str:
    """A key of a new user (or of ``user``) in the server's database."""
    accounts = accounts_for(server.data_dir, server.env.get("IMAGETUNE_DATABASE_URL"))
    if user is None:
        user = f"user-{uuid.uuid4().hex[:8]}"
        accounts.create_user(user)
    return accounts.create_key(user).key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server (one worker) for a module's tests."""
    process = ServerProcess(
        tmp_path_factory.mktemp("client") / "data",
        env={"IMAGETUNE_WORKERS": "1", "IMAGETUNE_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)},
        processor="sleep:0",  # the client is under test, not the engine
    )
    process.start()
    yield process
    process.stop()
    process.assert_no_server_errors()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.base_url, new_key(server)) as client:
        yield client

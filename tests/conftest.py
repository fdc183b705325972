from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.databases import fresh_postgres_database
from tests.support import ApiClient, ServerProcess, WorkerHost, accounts_for

pytest_plugins = ["tests.objectstores"]

ServerFactory = Callable[..., ServerProcess]
WorkerFactory = Callable[..., WorkerHost]
ClientFactory = Callable[..., ApiClient]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start real servers; each is stopped (or already killed) at the end of the test."""
    started: list[ServerProcess] = []

    def start(
        data_dir: Path | None = None,
        *,
        args: tuple[str, ...] = (),
        processor: str | None = None,
        **env: str,
    ) -> ServerProcess:
        server = ServerProcess(
            data_dir or tmp_path / "data", env=env, args=args, processor=processor
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()
        server.assert_no_server_errors()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start `imagetune worker` hosts; each is killed at the end of the test."""
    started: list[WorkerHost] = []

    def start(
        name: str,
        data_dir: Path | None = None,
        concurrency: int = 1,
        processor: str | None = None,
        **env: str,
    ) -> WorkerHost:
        host = WorkerHost(
            data_dir or tmp_path / "data",
            name,
            env=env,
            concurrency=concurrency,
            processor=processor,
        )
        started.append(host)
        return host.start()

    yield start
    for host in started:
        host.kill()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a module's read-mostly contract tests."""
    server = ServerProcess(
        tmp_path_factory.mktemp("shared") / "data", env={"IMAGETUNE_WORKERS": "2"}
    )
    server.start()
    yield server
    server.stop()
    server.assert_no_server_errors()


@pytest.fixture
def client_factory() -> Iterator[Callable[..., ApiClient]]:
    """Clients for a server: ``client_factory(server)`` makes a user with a fresh key."""
    clients: list[ApiClient] = []

    def make(server: ServerProcess, key: str | None = None, user: str | None = None) -> ApiClient:
        if key is None:
            accounts = accounts_for(server.data_dir, server.env.get("IMAGETUNE_DATABASE_URL"))
            if user is None:
                user = f"user-{uuid.uuid4().hex[:8]}"
                accounts.create_user(user)
            key = accounts.create_key(user).key
        client = ApiClient(server.base_url, key)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imagetune.clock import Clock, utcnow
from tests import forkserver
from tests.databases import fresh_postgres_database
from tests.inprocess import InProcessService
from tests.support import ApiClient, ServerProcess, WorkerHost, accounts_for

pytest_plugins = ["tests.objectstores", "tests.scheduling"]

ServerFactory = Callable[..., ServerProcess]
WorkerFactory = Callable[..., WorkerHost]
ClientFactory = Callable[..., ApiClient]
ServiceFactory = Callable[..., InProcessService]


def pytest_configure(config: pytest.Config) -> None:
    forkserver.enable()  # the suite's imagetune processes start as forks (tests/forkserver.py)
    workers = config.getoption("numprocesses", None) and not hasattr(config, "workerinput")
    # One for the xdist workers, not one each; but each its own where tests.cpu_usage
    # counts what each test's processes cost (the fork server's children are counted
    # where it runs).
    if workers and not config.pluginmanager.has_plugin("tests.cpu_usage"):
        forkserver.share_with_workers()


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts real imagetune processes is ``slow`` (tests.scheduling)."""
    # Imported here: a plugin imported before pytest_plugins registers it is not
    # assertion-rewritten, and pytest warns of it.
    from tests.scheduling import REAL_PROCESSES

    for item in items:
        if REAL_PROCESSES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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
def service_factory(tmp_path: Path) -> Iterator[Callable[..., InProcessService]]:
    """Start in-process services with their own settings (``IMAGETUNE_*=value``)."""
    started: list[InProcessService] = []

    def start(
        data_dir: Path | None = None,
        *,
        processor: str = "sleep:0",
        clock: Clock = utcnow,
        **env: str,
    ) -> InProcessService:
        service = InProcessService(
            data_dir or tmp_path / f"data-{len(started)}", processor=processor, clock=clock, **env
        )
        started.append(service.start())
        return service

    yield start
    for service in started:
        service.stop()


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
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """One in-process service for a module's read-mostly contract tests; its workers
    resize instead of running networks (tests.processors)."""
    service = InProcessService(tmp_path_factory.mktemp("shared") / "data")
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `imagetune serve` over real HTTP for a module's tests, its workers resizing
    instead of running networks (for what depends on the wire: paths, headers, logs)."""
    server = ServerProcess(
        tmp_path_factory.mktemp("http") / "data",
        env={"IMAGETUNE_WORKERS": "1"},
        processor="sleep:0",
    )
    server.start()
    yield server
    server.stop()
    server.assert_no_server_errors()


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `imagetune serve` (real engine) for a module's tests over real HTTP."""
    server = ServerProcess(tmp_path_factory.mktemp("real") / "data", env={"IMAGETUNE_WORKERS": "1"})
    server.start()
    yield server
    server.stop()
    server.assert_no_server_errors()


@pytest.fixture
def client_factory() -> Iterator[Callable[..., ApiClient]]:
    """Clients for a server: ``client_factory(server)`` makes a user with a fresh key."""
    clients: list[ApiClient] = []

    def make(
        server: ServerProcess | InProcessService, key: str | None = None, user: str | None = None
    ) -> ApiClient:
        if key is None:
            accounts = accounts_for(server.data_dir, server.env.get("IMAGETUNE_DATABASE_URL"))
            if user is None:
                user = f"user-{uuid.uuid4().hex[:8]}"
                accounts.create_user(user)
            key = accounts.create_key(user).key
        client = ApiClient(server.client_for(key))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

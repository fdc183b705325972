"""How `make test` spreads the suite over pytest-xdist's workers.

``--dist loadfile`` keeps a file's tests on one worker (a module's server starts once),
but sends files in order of how many tests they hold, so the few files of slow,
real-process tests (fleets, restarts, browsers, benchmarks) were sent last. Here the
files holding tests marked ``slow`` go first, then the rest by a guess of their cost
(what their tests start, COSTS), so that the many quick files fill the gaps at the end:
a 20-second file sent last kept one worker busy alone. The files listed in SPLIT, whose
tests share nothing, are spread test by test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

SPLIT = {"tests/test_bench.py"}
"""Files whose tests (each a benchmark's run in processes of its own) go to any worker."""


class SlowFilesFirst(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return nodeid if path in SPLIT else path


PER_TEST_PROCESSES = {"server_factory", "worker_factory"}
"""Fixtures that start `imagetune serve` or `imagetune worker` for each test."""
MODULE_SERVERS = {
    *("http_server", "real_server"),
    *("server", "hostile_server"),  # modules' own (tests/client, tests/cli, tests/api)
}
"""Fixtures that start one `imagetune serve` for a module's tests."""
REAL_PROCESSES = PER_TEST_PROCESSES | MODULE_SERVERS
"""Fixtures that start `imagetune serve` or `imagetune worker` as real processes: a test
using one (directly or through another fixture) is ``slow`` (tests/conftest.py marks it),
so `make test-fast` runs in-process services only. Tests that start other processes of
their own (a command, a PostgreSQL cluster, a filesystem to fill) carry the mark
themselves."""

COSTS = {
    **dict.fromkeys(PER_TEST_PROCESSES, 5.0),
    **dict.fromkeys(("service_factory", "submitter_for"), 2.0),
    **dict.fromkeys(MODULE_SERVERS, 0.5),
    "shared_server": 0.2,
}
"""A rough guess, in seconds of a loaded machine, of what a test using the fixture costs:
real `imagetune` processes started for the test, an in-process service (a worker and an
inspector), a request to a module's server started once. Only the order of files
depends on it."""
SLOW = 5.0
"""A test marked slow by hand: it starts a browser, a cluster or a command."""
POSTGRES = 0.5
"""A test on a fresh PostgreSQL database (the ``postgresql`` side of ``database_url``)."""
OTHER = 0.05


def cost(item: pytest.Item) -> float:
    fixtures = set(getattr(item, "fixturenames", ())) & COSTS.keys()
    if fixtures:
        guess = max(COSTS[name] for name in fixtures)
    else:
        guess = SLOW if item.get_closest_marker("slow") is not None else OTHER
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("database_url") == "postgresql":
        guess += POSTGRES
    return guess


def order(items: list[pytest.Item]) -> None:
    """Files holding slow tests first, then the costliest files first; each file's tests
    stay together and in order. The queue's order is the collection's."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    costs: dict[Path, float] = {}
    for item in items:
        costs[item.path] = costs.get(item.path, 0.0) + cost(item)
    items.sort(key=lambda item: (item.path not in slow, -costs[item.path]))


@pytest.hookimpl(trylast=True)  # the tests that will run: after -m deselected the others
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only where xdist's workers collect for the controller to send out; without xdist
    # the collection's order stands (the container tests build the image that
    # bench/containers.py's smoke then runs).
    if hasattr(config, "workerinput"):
        order(items)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SlowFilesFirst | None:
    if config.getvalue("dist") != "loadfile":
        return None
    config.option.loadscopereorder = False  # keep the order ``order`` gave
    return SlowFilesFirst(config, log)

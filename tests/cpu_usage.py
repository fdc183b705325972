"""``pytest -p tests.cpu_usage``: the CPU time each test file cost, child processes
included, printed at the end (the most costly first).

``--durations`` gives wall time, which on two shared cores says little; what a test
costs is the CPU of everything it starts, including servers it kills with SIGKILL, which
no rusage counts. Each pytest process (each xdist worker) moves itself into a cgroup of
its own and reads the cgroup's ``cpuacct.usage`` around each test, so everything it
starts is counted, whatever ends it. Needs cgroup v1's cpuacct controller and the right
to make a group (root); elsewhere it says so and measures nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
TOP = 40


class Usage:
    def __init__(self, name: str) -> None:
        self.group = CPUACCT / f"imagetune-tests-{name}"
        self.group.mkdir(exist_ok=True)
        (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        return int((self.group / "cpuacct.usage").read_text()) / 1e9


SPENT = pytest.StashKey[Counter[str]]()
"""CPU seconds by test file: this process's, and on the controller every worker's."""
SPENT_BY_TEST = pytest.StashKey[Counter[str]]()
"""The same by test (setup, call and teardown together)."""
USAGE = pytest.StashKey["Usage | None"]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SPENT] = Counter()
    config.stash[SPENT_BY_TEST] = Counter()
    try:
        config.stash[USAGE] = Usage(os.environ.get("PYTEST_XDIST_WORKER", "main"))
    except OSError as e:
        config.stash[USAGE] = None
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(f"tests.cpu_usage measures nothing: {e}"), stacklevel=2
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    usage = item.config.stash[USAGE]
    before = usage.seconds() if usage else 0.0
    yield
    if usage:
        spent = usage.seconds() - before
        item.config.stash[SPENT][item.nodeid.split("::")[0]] += spent
        item.config.stash[SPENT_BY_TEST][item.nodeid] += spent


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the figures to the controller
        workeroutput["cpu_usage"] = dict(session.config.stash[SPENT])
        workeroutput["cpu_usage_by_test"] = dict(session.config.stash[SPENT_BY_TEST])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any) -> None:
    node.config.stash[SPENT].update(node.workeroutput.get("cpu_usage", {}))
    node.config.stash[SPENT_BY_TEST].update(node.workeroutput.get("cpu_usage_by_test", {}))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    spent: Counter[str] = config.stash[SPENT]
    if not spent:
        return
    terminalreporter.section("CPU seconds by file (children included)")
    for path, seconds in spent.most_common(TOP):
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(spent.values()):8.1f}  in all ({len(spent)} files)")
    terminalreporter.section("CPU seconds by test (children included)")
    for nodeid, seconds in config.stash[SPENT_BY_TEST].most_common(TOP):
        terminalreporter.write_line(f"{seconds:8.1f}  {nodeid}")

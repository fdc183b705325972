"""How `make test` spreads the suite over pytest-xdist's workers.

``--dist loadfile`` keeps a file's tests on one worker (a module's server starts once),
but sends files in order of how many tests they hold, so the few files of slow,
real-process tests (fleets, restarts, browsers, benchmarks) were sent last. Here the
files holding tests marked ``slow`` go first, so that the many quick files fill the
gaps at the end, and the files listed in SPLIT, whose tests share nothing, are spread
test by test.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

SPLIT = {"tests/test_bench.py"}
"""Files whose tests (each a benchmark's run in processes of its own) go to any worker."""


class SlowFilesFirst(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return nodeid if path in SPLIT else path


def order(items: list[pytest.Item]) -> None:
    """Files holding slow tests first; each file's tests stay together and in order (so
    module-scoped fixtures are made once without xdist too). The queue's order is the
    collection's."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


def scheduler(config: pytest.Config, log: Any) -> SlowFilesFirst | None:
    if config.getvalue("dist") != "loadfile":
        return None
    config.option.loadscopereorder = False  # keep the order ``order`` gave
    return SlowFilesFirst(config, log)

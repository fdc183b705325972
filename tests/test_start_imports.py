"""What the service's processes (the API, and the fork server its workers and inspectors
start from) import at their start.

The fork server (imagetune.processes) is a fresh interpreter that imports the worker's and
the inspector's entry modules, and every inspector is a fork of it: what neither uses must
not be imported there (the web framework alone would cost half a second at each start,
and more memory under an inspector's address-space cap). Nor may the metrics library,
which picks where it keeps values from the environment when it is imported: under the
fork server's environment, not the host's metrics directory. The console script is
imported again in each child (multiprocessing re-imports the main module), and the API
loads httpx (with its command line's click and rich) only to deliver a webhook. Checked
in a fresh interpreter, as each process starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from imagetune.processes import PRELOAD

# module imported at a process's start: libraries that must not come with it
UNUSED = {
    "imagetune.cli": ["typer", "rich", "fastapi", "sqlalchemy"],
    "imagetune.api.inspector_process": [
        "fastapi",
        "starlette",
        "sqlalchemy",
        "pydantic",
        "prometheus_client",
    ],
    "imagetune.hosting.worker_process": [
        "fastapi",
        "starlette",
        "alembic",
        "httpx",
        "typer",
        "prometheus_client",
    ],
    # The API process: httpx (and the click, rich and pygments it loads) only to deliver.
    "imagetune.app": ["httpx", "click", "rich", "typer", "alembic"],
}

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


@pytest.mark.parametrize("module", UNUSED)
def test_a_spawned_process_imports_only_what_it_uses(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module, json.dumps(UNUSED[module])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_what_the_fork_server_imports_is_checked() -> None:
    checked = {module for module, unused in UNUSED.items() if "prometheus_client" in unused}
    assert set(PRELOAD) <= checked

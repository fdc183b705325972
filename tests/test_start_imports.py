"""What the service's processes (the API, and those it spawns) import at their start.

Every worker and upload inspector is a fresh interpreter (spawned, not forked) that imports
its entry module; the service starts them at every start and after every crash, and the
console script is imported again in each (multiprocessing re-imports the main module).
What they do not use must not be imported there: the web framework alone costs an
inspector half a second, and the API loads httpx (with its command line's click and rich)
only to deliver a webhook. Checked in a fresh interpreter, as a spawned process starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# module imported at a process's start: libraries that must not come with it
UNUSED = {
    "imagetune.cli": ["typer", "rich", "fastapi", "sqlalchemy"],
    "imagetune.api.inspector_process": ["fastapi", "starlette", "sqlalchemy", "pydantic"],
    "imagetune.hosting.worker_process": ["fastapi", "starlette", "alembic", "httpx", "typer"],
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

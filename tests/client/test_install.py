"""The client installed alone, in a fresh virtual environment: httpx and nothing of the
server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.conftest import new_key
from tests.databases import service_missing
from tests.support import ServerProcess, make_image

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
SERVER_PACKAGES = ["imagetune", "fastapi", "numpy", "PIL", "sqlalchemy", "cv2", "ncnn", "uvicorn"]

# Runs inside the fresh environment: imports, then a whole upscale against the server.
SCRIPT = """
import importlib.util, json, sys
import imagetune_client
from imagetune_client import Client
missing = [name for name in sys.argv[3:] if importlib.util.find_spec(name) is None]
with Client(sys.argv[1], sys.argv[2]) as client:
    path = client.upscale("in.png", "1K", model="classic")
data = open(path, "rb").read()
print(json.dumps({"missing": missing, "file": str(path),
                  "size": [int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")],
                  "module": imagetune_client.__file__}))
"""


@pytest.mark.slow
def test_the_client_installs_and_runs_without_the_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    # No pip of its own (ensurepip costs seconds): this environment's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip_in_venv = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    pip = subprocess.run(
        [*pip_in_venv, "install", "--quiet", str(CLIENT_DIR)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0 and "No matching distribution" in pip.stderr:
        service_missing(f"no package index for pip install ./client: {pip.stderr[-300:]}")
    assert pip.returncode == 0, pip.stderr
    frozen = subprocess.run(
        [*pip_in_venv, "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {p["name"].lower() for p in json.loads(frozen.stdout)}
    assert {"imagetune-client", "httpx"} <= installed
    assert not installed & {"imagetune", "fastapi", "numpy", "pillow", "sqlalchemy", "ncnn"}

    (tmp_path / "in.png").write_bytes(make_image((60, 40)))
    run = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            SCRIPT,
            server.base_url,
            new_key(server),
            *SERVER_PACKAGES,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["missing"] == SERVER_PACKAGES  # none of them importable there
    assert report["module"].startswith(str(venv))  # the installed copy, not the source tree
    assert report["size"] == [1024, 683]

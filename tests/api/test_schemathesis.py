"""Schemathesis against the service's own OpenAPI schema: no input gives a server error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ClientFactory


def test_no_generated_request_causes_a_server_error(
    server_factory, client_factory: ClientFactory, tmp_path: Path
) -> None:
    server = server_factory(
        IMAGETUNE_WORKERS="1",
        IMAGETUNE_RATE_LIMIT_PER_MINUTE="0",
        IMAGETUNE_MAX_UNFINISHED_PER_USER="0",
        processor="sleep:0",
    )
    key = client_factory(server).http.headers["Authorization"].split()[1]
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a dev dependency"
    result = subprocess.run(
        [
            st,
            "run",
            f"{server.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout
    assert "failed" not in result.stdout.split("SUMMARY")[-1]

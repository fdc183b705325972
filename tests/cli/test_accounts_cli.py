"""The users and keys commands on a real data directory, beside a running server.

The commands run in this process (tests/cli/invoke.py); `db upgrade` runs as the
console command a user types, as a separate process.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.cli.invoke import imagetune
from tests.support import ServerProcess, run_imagetune, wait_until


def test_user_and_key_lifecycle_against_a_running_server(server_factory) -> None:
    server: ServerProcess = server_factory(IMAGETUNE_WORKERS="0")
    data = server.data_dir
    assert "created user alice" in imagetune(data, "users", "create", "alice").stdout
    key = imagetune(data, "keys", "create", "alice").stdout.strip().splitlines()[-1]
    assert key.startswith("itk_")

    headers = {"Authorization": f"Bearer {key}"}
    job_url = f"{server.base_url}/public/v1/job/00000000-0000-4000-8000-000000000000"
    assert httpx.get(job_url, headers=headers).json() == {"detail": "Job not found"}

    listing = imagetune(data, "users", "list").stdout
    assert "alice" in listing
    assert key[:12] in imagetune(data, "keys", "list", "alice").stdout
    assert key not in imagetune(data, "keys", "list", "alice").stdout

    assert "revoked" in imagetune(data, "keys", "revoke", key[:12]).stdout
    # Good keys are trusted for a second per API process (docs/architecture.md).
    wait_until(lambda: httpx.get(job_url, headers=headers).status_code == 401, timeout=3)

    key2 = imagetune(data, "keys", "create", "alice").stdout.strip().splitlines()[-1]
    assert httpx.get(job_url, headers={"Authorization": f"Bearer {key2}"}).status_code == 404
    imagetune(data, "users", "delete", "alice")
    response = wait_until(
        lambda: (
            (r := httpx.get(job_url, headers={"Authorization": f"Bearer {key2}"})).json()
            == {"detail": "Not Found User"}
            and r
        ),
        timeout=3,
    )
    assert response.status_code == 404
    assert "alice" not in imagetune(data, "users", "list").stdout


def test_errors_exit_nonzero_with_message(tmp_path: Path) -> None:
    result = imagetune(tmp_path, "keys", "create", "nobody", check=False)
    assert result.exit_code == 1
    assert "no user named 'nobody'" in result.stderr
    imagetune(tmp_path, "users", "create", "eve")
    result = imagetune(tmp_path, "users", "create", "eve", check=False)
    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    # The console command, in a process of its own, as an operator runs it.
    done = run_imagetune(["db", "upgrade"], {**os.environ, "IMAGETUNE_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "revision 0009" in done.stdout
    assert (tmp_path / "imagetune.db").exists()


def test_serve_prints_where_it_listens_and_how_to_get_a_key(server_factory) -> None:
    server: ServerProcess = server_factory(IMAGETUNE_WORKERS="0")
    log = server.log()
    assert f"listening on {server.base_url}" in log
    assert f"playground: {server.base_url}/" in log
    assert "users create" in log
    assert "keys create" in log

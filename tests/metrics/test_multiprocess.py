"""The multiprocess directory: private to a host, empty at its start, gone at its exit,
and what hosts killed with -9 left behind is removed by the next one."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from imagetune.metrics import multiprocess
from tests.conftest import ServerFactory


def test_private_directory_lifecycle(server_factory: ServerFactory) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    base = multiprocess.base_directory()
    orphan = Path(tempfile.mkdtemp(prefix=f"imagetune-metrics-{dead.pid}-", dir=base))
    (orphan / "counter_123.db").write_bytes(b"\0" * 16)

    server = server_factory(IMAGETUNE_WORKERS="1", processor="sleep:0")
    assert server.process is not None
    own = list(base.glob(f"imagetune-metrics-{server.process.pid}-*"))
    assert len(own) == 1
    assert not orphan.exists()
    assert server.http.get("/metrics").status_code == 200
    assert any(own[0].iterdir())  # the API's and the worker's values
    server.stop()
    assert not own[0].exists()

"""A throwaway PostgreSQL cluster of a test's (or a benchmark's) own, to stop and start
at will: Debian's binaries (`initdb`, `pg_ctl`), a temporary directory, a free port.
Never the machine's shared server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support import free_port


def pg_binary(name: str) -> str | None:
    """Where Debian's PostgreSQL binary ``name`` is; None when it is not installed."""
    return shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )


class Cluster:
    """A cluster in ``where`` (made readable by the postgres user when run as root:
    initdb refuses to run as root), started at once."""

    def __init__(self, where: Path) -> None:
        self.data = where / "pg"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            os.chmod(where, 0o777)
        initdb = [_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        subprocess.run([*self._as, *initdb], check=True, capture_output=True)
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", options, "-w", "-l", str(self.data.parent / "pg.log"), "start")

    def stop(self) -> None:
        """As an outage: connections are cut (fast shutdown)."""
        self.pg_ctl("-m", "fast", "-w", "stop")

    def close(self) -> None:
        self.pg_ctl("-m", "immediate", "stop", check=False)

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        command = [*self._as, _binary("pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(command, check=check, capture_output=True)


def _binary(name: str) -> str:
    found = pg_binary(name)
    if found is None:
        raise RuntimeError(f"{name} not found (apt-get install postgresql)")
    return found

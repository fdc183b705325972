"""``python -m imagetune.healthcheck``: the container image's HEALTHCHECK.

Exit 0 when this container's imagetune process is alive: `serve` answers 200 on
``/healthz``, or, where no API listens, a `worker` host accepts connections on its metrics
port (so a worker with IMAGETUNE_METRICS=0 needs its healthcheck turned off). Liveness,
not readiness: a database outage is `/readyz`'s to report, and a container restarted for
it would not bring the database back.

The standard library only (the image has no curl), and no Settings: this runs every 30 s
beside the service, and importing imagetune.config (which imports the engine) costs
0.3 s of CPU against 0.04 s for this module, so it reads the two ports it needs itself.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request

TIMEOUT = 3.0


def _api_alive(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as r:
            return int(r.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def main() -> int:
    api_port = int(os.environ.get("IMAGETUNE_PORT", "8000"))
    if _api_alive(api_port):
        return 0
    metrics_port = int(os.environ.get("IMAGETUNE_WORKER_METRICS_PORT", "9464"))
    if metrics_port and _accepts(metrics_port):
        return 0
    print(
        f"unhealthy: no answer from /healthz on port {api_port} "
        f"nor from a worker's metrics port {metrics_port}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())

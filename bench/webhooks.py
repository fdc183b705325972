"""Webhook delivery latency: from a job's end (its ``finished_at``) to the receiver.

Run from the repository root:

    .venv/bin/python bench/webhooks.py [--jobs 100]
    .venv/bin/python bench/webhooks.py --smoke    # a few seconds: does it still run?

It starts `imagetune serve` (embedded default: SQLite, one worker, default delivery
settings) on a free port, with a processor that takes no time (tests.processors
``sleep:0``: decode, resize, encode a 64x48 PNG), and a receiver on loopback that verifies
every message with the standardwebhooks package. It submits the jobs one after another,
each with a webhook for ``completed``, waits for each message, and reports p50/p99/max of
(arrival at the receiver - the job's finished_at). Client, receiver and server share this
machine, whose clock they all read.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServerProcess, accounts_for, make_image
from tests.webhooks.receivers import Receiver

from imagetune.db.database import open_database
from imagetune.webhooks.secrets import WebhookSecrets

SERVER_ENV = {
    "IMAGETUNE_WORKERS": "1",
    "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
    # Every job must run and finish through a worker, as a first submission does.
    "IMAGETUNE_RESULT_REUSE": "0",
    "IMAGETUNE_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver is on loopback
    "IMAGETUNE_LOG_LEVEL": "warning",
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="5 jobs: does it still run?")
    args = parser.parse_args()
    jobs = 5 if args.smoke else args.jobs
    print(" ".join(["command: python bench/webhooks.py", *map(shlex.quote, sys.argv[1:])]))

    receiver = Receiver().start()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        env = {**SERVER_ENV, "IMAGETUNE_WEBHOOK_ALLOWED_PORTS": str(receiver.port)}
        server = ServerProcess(data_dir, env=env, processor="sleep:0").start()
        try:
            accounts = accounts_for(data_dir)
            user = accounts.create_user(f"bench-{uuid.uuid4().hex[:6]}")
            key = accounts.create_key(user.name).key
            database = open_database(f"sqlite:///{data_dir / 'imagetune.db'}")
            secret = WebhookSecrets(database.sessions).current(user.id)
            database.close()
            image = make_image()
            latencies: list[float] = []
            with server.client_for(key) as http:
                for n in range(jobs):
                    response = http.post(
                        "/public/v1/image-tune/upscale",
                        files={"image": ("image.png", image, "image/png")},
                        data={"scale": "1K", "webhook": receiver.url},
                    )
                    response.raise_for_status()
                    arrived = receiver.wait_for(n + 1, timeout=60)[n]
                    message = arrived.verify(secret)
                    assert message["data"]["job_id"] == response.json()["job_id"]
                    finished = datetime.fromisoformat(message["data"]["finished_at"])
                    latencies.append((arrived.wall - finished.timestamp()) * 1000)
            time.sleep(0.2)
        finally:
            server.stop()
            receiver.stop()
    print(f"server: imagetune serve, 1 worker, default delivery settings; {jobs} jobs")
    print(f"delivery latency (job finished -> receiver), {len(latencies)} messages:")
    print(
        f"  p50 {statistics.median(latencies):.1f} ms  p99 {percentile(latencies, 0.99):.1f} ms"
        f"  max {max(latencies):.1f} ms  all verified: {len(latencies) == jobs}"
    )


if __name__ == "__main__":
    main()

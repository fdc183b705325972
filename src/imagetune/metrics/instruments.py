"""The metrics imagetune exports: names, labels and buckets, in one place.

Made on first use (``get()``), after the process knows its multiprocess directory, and
never registered in the library's global registry: in multiprocess mode, what is exported
is read back from the files (imagetune.metrics.exposition). No label carries a job id, a
user, a key or a raw path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: a poll takes milliseconds, an upload of 50 MB a few seconds."""
JOB_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1200.0, 1800.0, 3600.0,
)  # fmt: skip
"""Seconds: a classic job's phase takes milliseconds, a queue wait under load many minutes."""

PHASES = ("decode", "inference", "resize", "encode", "store")
REJECTIONS = (
    "rate_limit", "unfinished_cap", "queue_cap", "too_large", "invalid_image", "validation",
)  # fmt: skip
WEBHOOK_OUTCOMES = ("delivered", "retried", "given_up", "refused")
OUTCOMES = ("succeeded", "failed")


@dataclass(frozen=True)
class Instruments:
    http_requests: Counter
    http_duration: Histogram
    jobs_submitted: Counter
    jobs_finished: Counter
    queue_wait: Histogram
    phase_seconds: Histogram
    workers: Gauge
    rejections: Counter
    webhook_deliveries: Counter
    engine_info: Gauge


@functools.cache
def get() -> Instruments:
    return Instruments(
        http_requests=Counter(
            "imagetune_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=None,
        ),
        http_duration=Histogram(
            "imagetune_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=None,
        ),
        jobs_submitted=Counter(
            "imagetune_jobs_submitted",
            "Jobs accepted.",
            ["model", "scale"],
            registry=None,
        ),
        jobs_finished=Counter(
            "imagetune_jobs_finished",
            "Jobs finished, by outcome (succeeded or failed).",
            ["model", "scale", "outcome"],
            registry=None,
        ),
        queue_wait=Histogram(
            "imagetune_job_queue_wait_seconds",
            "Time from a job's creation to its first start.",
            ["model"],
            buckets=JOB_BUCKETS,
            registry=None,
        ),
        phase_seconds=Histogram(
            "imagetune_job_phase_seconds",
            "Time a job spends in each phase (decode, inference, resize, encode, store).",
            ["model", "phase"],
            buckets=JOB_BUCKETS,
            registry=None,
        ),
        workers=Gauge(
            "imagetune_workers",
            "Worker processes of this host, busy (in a job) or idle.",
            ["state"],
            multiprocess_mode="livesum",
            registry=None,
        ),
        rejections=Counter(
            "imagetune_rejections",
            "Requests refused, by reason.",
            ["reason"],
            registry=None,
        ),
        webhook_deliveries=Counter(
            "imagetune_webhook_deliveries",
            "Webhook delivery attempts, by what they came to.",
            ["outcome"],
            registry=None,
        ),
        engine_info=Gauge(
            "imagetune_engine_info",
            "1, labelled with the device and the inference threads the workers run on.",
            ["device", "threads"],
            multiprocess_mode="livemax",
            registry=None,
        ),
    )


def declare_zeroes() -> None:
    """Export every rejection reason and webhook outcome from the start, at zero, so a
    rate() over them works before the first one happens."""
    instruments = get()
    for reason in REJECTIONS:
        instruments.rejections.labels(reason)
    for outcome in WEBHOOK_OUTCOMES:
        instruments.webhook_deliveries.labels(outcome)


def reset() -> None:
    """Forget the instruments, so the next get() makes them in the current directory."""
    get.cache_clear()

"""The ``Idempotency-Key`` header of submissions; the keys themselves (their rows, the
claim) are imagetune.jobs.idempotency's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from imagetune.jobs.idempotency import MAX_KEY_LENGTH

HEADER = "Idempotency-Key"
# Printable ASCII, space included (HTTP strips it at either end).
KEY_PATTERN = r"^[\x20-\x7e]+$"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Optional: a retry with the same key (and the same upload and fields) "
        "returns the same job_id and creates nothing; with a different request, 422. "
        "1 to 255 printable ASCII characters, kept for IMAGETUNE_RETENTION_SECONDS.",
    ),
]

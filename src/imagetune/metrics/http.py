"""HTTP metrics: requests and their durations by route template, and refusals by reason."""

from __future__ import annotations

from typing import Any

from imagetune.metrics import instruments

REJECTION_KEY = "rejection"
"""Set on ``request.state`` by whoever refuses a request for a reason the status alone
does not tell (the three 429s: imagetune.api.errors)."""

UPLOAD_ROUTE = "/public/v1/image-tune/upscale"


def rejection_reason(route: str, status: int, state: dict[str, Any]) -> str | None:
    reason = state.get(REJECTION_KEY)
    if isinstance(reason, str):
        return reason
    if status == 413:
        return "too_large"
    if status == 422:
        return "validation"
    if status == 400 and route == UPLOAD_ROUTE:
        # An image that does not decode, or a multipart body that does not parse.
        return "invalid_image"
    return None


class HttpMetrics:
    def __init__(self) -> None:
        metrics = instruments.get()
        self._requests = metrics.http_requests
        self._duration = metrics.http_duration
        self._rejections = metrics.rejections

    def record(
        self, method: str, route: str, status: int, seconds: float, state: dict[str, Any]
    ) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._duration.labels(method, route).observe(seconds)
        reason = rejection_reason(route, status, state)
        if reason is not None:
            self._rejections.labels(reason).inc()

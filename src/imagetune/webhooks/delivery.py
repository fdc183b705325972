"""One delivery attempt over HTTP, and what follows from its outcome.

The host name is resolved once per attempt and every address checked against the rule
(imagetune.webhooks.addresses); the connection then goes to the checked address, with the
URL's host name in the Host header and as the TLS server name (so certificates are
verified against the name), so a DNS answer that changes between the check and the
connection cannot send it elsewhere. Redirects are never followed. Through an egress proxy
the proxy resolves and enforces policy instead.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from imagetune.webhooks.addresses import SCHEMES, IPAddress, Policy, resolve

if TYPE_CHECKING:
    import httpx

MAX_READ = 64 * 1024
"""Bytes of a response body read at most; the rest is never received."""
EXCERPT = 200
"""Characters of it (or of an error) kept in the attempt's record."""
JITTER = 0.2

Resolver = Callable[[str, int], list[IPAddress]]

DELIVERED = "delivered"
FAILED = "failed"
"""A non-2xx answer (3xx included), a timeout or a connection error: retried."""
GONE = "gone"
"""410: the receiver asks for no more; not retried."""
REFUSED = "refused"
"""The address rule (or the port list) forbids the destination; not retried."""


@dataclass(frozen=True)
class Result:
    outcome: str
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    retry_after: float | None = None


@dataclass(frozen=True)
class Sender:
    """Sends one message: plain arguments, no settings."""

    policy: Policy
    timeout: float = 15.0
    proxy: str | None = None
    resolver: Resolver = resolve
    verify: ssl.SSLContext | bool = True
    """TLS verification (the system's CAs by default; a test hands in its own)."""

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Result:
        # httpx is imported at the first delivery, not with the API: it loads click, rich
        # and pygments for its command line (a tenth of a second at every start).
        import httpx

        started = time.monotonic()

        def result(outcome: str, code: int | None = None, excerpt: str | None = None) -> Result:
            elapsed = int((time.monotonic() - started) * 1000)
            return Result(outcome, code, elapsed, excerpt[:EXCERPT] if excerpt else None)

        target = httpx.URL(url)
        port = target.port or SCHEMES[target.scheme]
        if port not in self.policy.allowed_ports:
            return result(REFUSED, excerpt=f"port {port} is not allowed")
        extensions: dict[str, str] = {}
        request_headers = {
            "content-type": "application/json",
            "user-agent": "imagetune-webhooks",
            **headers,
        }
        if self.proxy is None:
            try:
                addresses = self.resolver(target.host, port)
            except OSError as e:
                return result(FAILED, excerpt=f"name resolution failed: {e}")
            if self.policy.refuses(addresses):
                return result(REFUSED, excerpt="address not allowed: " + _listed(addresses))
            address = addresses[0]
            request_headers["host"] = target.netloc.decode("ascii")
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
            host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
            target = target.copy_with(host=host)
        try:
            with (
                httpx.Client(
                    proxy=self.proxy,
                    verify=self.verify,
                    timeout=self.timeout,
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream(
                    "POST", target, headers=request_headers, content=body, extensions=extensions
                ) as response,
            ):
                excerpt = _read_excerpt(response, started + self.timeout)
        except httpx.TimeoutException:
            return result(FAILED, excerpt="timed out")
        except httpx.HTTPError as e:
            return result(FAILED, excerpt=f"{type(e).__name__}: {e}")
        code = response.status_code
        if 200 <= code < 300:
            return result(DELIVERED, code, excerpt)
        outcome = GONE if code == 410 else FAILED
        answer = result(outcome, code, excerpt)
        if code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return Result(answer.outcome, code, answer.duration_ms, answer.excerpt, retry_after)
        return answer


def _read_excerpt(response: httpx.Response, deadline: float) -> str:
    """At most MAX_READ bytes of the body, within the attempt's deadline; its start."""
    received = bytearray()
    for chunk in response.iter_raw():
        received += chunk
        if len(received) >= MAX_READ or time.monotonic() > deadline:
            break
    return bytes(received[:MAX_READ]).decode("utf-8", "replace")[:EXCERPT]


def _listed(addresses: Sequence[IPAddress]) -> str:
    return ", ".join(str(a) for a in addresses) or "none"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def next_delay(
    result: Result,
    attempts: int,
    schedule: Sequence[float],
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after ``attempts`` attempts (this one included), or
    None: delivered, gone, refused, or the schedule is used up.

    Each step of the schedule gets ±20% jitter; a Retry-After (429, 503) later than that
    is honoured, capped at the schedule's longest step.
    """
    if result.outcome != FAILED or attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if result.retry_after is not None and result.retry_after > delay:
        delay = min(result.retry_after, max(schedule))
    return delay

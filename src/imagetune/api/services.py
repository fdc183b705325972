"""What the routes use, built once per app in ``create_app``'s start-up and reached
through ``services(request)``: one typed object, where each route takes its own parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fastapi import Request
from pydantic import SecretStr

from imagetune.accounts import Accounts
from imagetune.api.inspection import Inspector
from imagetune.api.keycache import KeyCache
from imagetune.api.polling import Polls
from imagetune.api.submissions import Submissions
from imagetune.db.database import Database
from imagetune.jobs.budgets import Budgets
from imagetune.storage.base import Storage

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class Workers(Protocol):
    """The worker processes this process runs (imagetune.hosting.pool.WorkerPool)."""

    @property
    def size(self) -> int: ...

    device: str
    """The devices the workers run on, in words."""

    def alive(self) -> int: ...

    def trouble(self) -> str | None:
        """A crash loop in words (no process gets as far as taking jobs), or None."""


@dataclass(frozen=True)
class Services:
    key_cache: KeyCache
    """Authentication (api/auth.py), before anything else in a request."""
    max_upload_bytes: int
    submissions: Submissions
    inspector: Inspector
    """Decodes uploads in isolated processes; the previews route uses it directly."""
    polls: Polls
    database: Database
    storage: Storage
    workers: Workers | None
    """None when this process runs no workers."""
    metrics_registry: CollectorRegistry | None
    """What GET /metrics exports; None with IMAGETUNE_METRICS=0."""
    metrics_token: str | None
    accounts: Accounts
    """Users and keys, for the admin API (api/admin.py)."""
    budgets: Budgets
    admin_token: SecretStr | None
    """IMAGETUNE_ADMIN_TOKEN; the admin API is mounted only when it is set."""


def services(request: Request) -> Services:
    """The app's services (set on ``app.state.services`` by imagetune.app, once)."""
    found: Services = request.app.state.services
    return found

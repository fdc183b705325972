"""The service in-process: ``create_app(settings)`` driven through Starlette's TestClient
(httpx over an ASGI transport), with real worker processes, inspectors and a real SQLite
file, but no socket and no server start-up. For the many variations of the contract; the
contract itself is also exercised over real HTTP (tests/api/test_contract_http.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from imagetune.app import create_app
from imagetune.clock import Clock, utcnow
from imagetune.config import Settings
from tests.processors import processor_factory


class InProcessService:
    """Looks like tests.support.ServerProcess to tests: ``data_dir``, ``env``,
    ``base_url``, ``http`` and ``client_for``."""

    def __init__(
        self, data_dir: Path, *, processor: str = "sleep:0", clock: Clock = utcnow, **env: str
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        # As the environment would give them: complex values (lists) are JSON there.
        fields: dict[str, Any] = {
            name.removeprefix("IMAGETUNE_").lower(): json.loads(value)
            if value.startswith("[")
            else value
            for name, value in env.items()
        }
        # Tests share few cores; the CPU, not a probe of Vulkan devices at every start. A
        # job still running when a test ends is handed back after half a second, not the
        # service's 10 (a test about the grace sets its own).
        defaults = {
            "workers": 1,
            "engine_threads": 1,
            "engine_device": "cpu",
            "shutdown_grace": 0.5,
        }
        settings = Settings(data_dir=data_dir, **{**defaults, **fields})
        self.base_url = settings.resolved_public_url()
        self._client = TestClient(create_app(settings, processor_factory(processor), clock=clock))
        self.http: httpx.Client = self._client

    def start(self) -> InProcessService:
        self._client.__enter__()
        return self

    def stop(self) -> None:
        self._client.__exit__(None, None, None)

    def client_for(self, key: str | None) -> httpx.Client:
        """A client with its own headers on the same app (and the same lifespan)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(
            transport=self._client._transport,
            base_url=self._client.base_url,
            headers=headers,
            follow_redirects=False,
        )

    def assert_no_server_errors(self) -> None:
        """Nothing to read: TestClient re-raises any error a request hits."""

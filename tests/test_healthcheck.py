"""The container image's HEALTHCHECK (imagetune.healthcheck), against loopback listeners;
tests/deploy runs it inside the image with `podman healthcheck run`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imagetune import healthcheck
from tests.support import free_port


class Answer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class Failing(Answer):
    status = 503


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    api, metrics = free_port(), free_port()
    monkeypatch.setenv("IMAGETUNE_PORT", str(api))
    monkeypatch.setenv("IMAGETUNE_WORKER_METRICS_PORT", str(metrics))
    return api, metrics


@contextmanager
def serving(port: int, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


def test_an_api_answering_healthz_is_healthy(ports: tuple[int, int]) -> None:
    with serving(ports[0], Answer):
        assert healthcheck.main() == 0


def test_an_api_answering_an_error_is_unhealthy(ports: tuple[int, int]) -> None:
    with serving(ports[0], Failing):
        assert healthcheck.main() == 1


def test_a_worker_accepting_on_its_metrics_port_is_healthy(ports: tuple[int, int]) -> None:
    with socket.create_server(("127.0.0.1", ports[1])):
        assert healthcheck.main() == 0


def test_nothing_listening_is_unhealthy(
    ports: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert healthcheck.main() == 1
    assert "unhealthy" in capsys.readouterr().err

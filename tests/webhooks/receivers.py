"""Webhook receivers on loopback for tests: a real HTTP server that answers as a test
scripts it and records every request, and a bare listener that records connections."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    """Seconds to wait before answering (a receiver that hangs)."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """time.monotonic() on arrival."""
    wall: float = 0.0
    """time.time() on arrival (to compare with the server's timestamps)."""

    def verify(self, secret: str) -> dict[str, Any]:
        """The message's JSON, as a receiver using the standardwebhooks package sees it
        (raises WebhookVerificationError when the signature does not match)."""
        parsed: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return parsed


class Receiver:
    """``answers`` are used in order, the last one for every request after them."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        self.answers = answers or [Answer()]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    index = len(receiver.received)
                    receiver.received.append(
                        Received(
                            self.path,
                            dict(self.headers.items()),
                            body,
                            time.monotonic(),
                            time.time(),
                        )
                    )
                answer = receiver.answers[min(index, len(receiver.answers) - 1)]
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The first ``count`` requests, once they have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, (
                f"{len(self.received)} of {count} webhook requests after {timeout}s"
            )
            time.sleep(0.02)
        return self.received[:count]


class Listener:
    """A loopback TCP port that records every connection it accepts, and says nothing:
    proof that a refused delivery never reached the target."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.bind((host, 0))
        self.socket.listen(16)
        self.socket.settimeout(0.1)
        self.port = int(self.socket.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        self.socket.close()

"""How a delivery connects: to the address that was checked, with the URL's name as Host
and TLS server name (the certificate is verified against the name), or through a proxy."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from imagetune.webhooks.addresses import IPAddress, Policy, resolve
from imagetune.webhooks.delivery import DELIVERED, FAILED, Sender
from tests.webhooks.receivers import Receiver
from tests.webhooks.test_ssrf import loopback_name


def certificate(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for ``name`` it signed: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class TlsReceiver:
    """HTTPS on loopback; records the Host header and the TLS server name of each call."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.hosts.append(self.headers["host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[TlsReceiver, str, ssl.SSLContext]]:
    name = loopback_name()
    ca, cert, key = certificate(tmp_path, name)
    receiver = TlsReceiver(cert, key)
    yield receiver, name, ssl.create_default_context(cafile=str(ca))
    receiver.close()


def test_https_to_the_checked_address_with_the_names_sni_and_host(
    tls: tuple[TlsReceiver, str, ssl.SSLContext],
) -> None:
    receiver, name, trust = tls
    resolved: list[str] = []

    def resolve_counted(host: str, port: int) -> list[IPAddress]:
        resolved.append(host)
        return resolve(host, port)

    sender = Sender(
        Policy(allowed_ports=(receiver.port,), allow_private=True),
        timeout=5,
        resolver=resolve_counted,
        verify=trust,
    )
    result = sender.send(f"https://{name}:{receiver.port}/hook", {}, b"{}")

    assert result.outcome == DELIVERED, result
    assert resolved == [name]  # resolved once, for this attempt
    assert receiver.server_names == [name]
    assert receiver.hosts == [f"{name}:{receiver.port}"]


def test_a_certificate_for_another_name_is_refused(
    tls: tuple[TlsReceiver, str, ssl.SSLContext],
) -> None:
    receiver, _name, trust = tls
    sender = Sender(
        Policy(allowed_ports=(receiver.port,), allow_private=True), timeout=5, verify=trust
    )
    result = sender.send(f"https://127.0.0.1:{receiver.port}/hook", {}, b"{}")

    assert result.outcome == FAILED
    assert result.excerpt is not None
    assert "certificate" in result.excerpt.lower()


def test_through_a_proxy_nothing_is_resolved_here() -> None:
    """The proxy (here a receiver that records the request line) gets the absolute URL;
    the name, which resolves nowhere, is left to it."""
    proxy = Receiver().start()
    try:
        sender = Sender(Policy(), timeout=5, proxy=f"http://127.0.0.1:{proxy.port}")
        result = sender.send("http://hooks.invalid/hook?x=1", {"webhook-id": "msg_1"}, b"{}")

        assert result.outcome == DELIVERED
        (request,) = proxy.received
        assert request.path == "http://hooks.invalid/hook?x=1"
        assert request.headers["webhook-id"] == "msg_1"
    finally:
        proxy.stop()

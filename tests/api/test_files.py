"""Result URLs: signed, expiring, fetchable without credentials."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from imagetune.signing import UrlSigner
from tests.clocks import FakeClock
from tests.conftest import ClientFactory
from tests.support import ServerProcess, make_image

FORBIDDEN = 403


@pytest.fixture(scope="module")
def result_url(http_server: ServerProcess) -> str:
    from tests.support import ApiClient, accounts_for

    accounts = accounts_for(http_server.data_dir)
    accounts.create_user("files-owner")
    client = ApiClient(http_server.client_for(accounts.create_key("files-owner").key))
    job = client.upscale(make_image(), "1K")
    client.close()
    url: str = job["image_urls"][0]
    return url


def signer_for(server: ServerProcess) -> UrlSigner:
    return UrlSigner((server.data_dir / "secret_key").read_text().strip().encode())


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params)
    return parts._replace(query=urlencode(query)).geturl()


def test_valid_url_serves_png_with_safe_headers(result_url: str) -> None:
    response = httpx.get(result_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.content.startswith(b"\x89PNG")


def test_url_is_unguessable(result_url: str) -> None:
    query = parse_qs(urlsplit(result_url).query)
    assert len(query["sig"][0]) >= 40
    assert int(query["expires"][0]) > time.time()


def test_tampered_signature_is_403(result_url: str) -> None:
    sig = parse_qs(urlsplit(result_url).query)["sig"][0]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    response = httpx.get(with_query(result_url, sig=flipped))
    assert response.status_code == FORBIDDEN
    assert "detail" in response.json()


def test_extended_expiry_is_403(result_url: str) -> None:
    expires = int(parse_qs(urlsplit(result_url).query)["expires"][0])
    assert httpx.get(with_query(result_url, expires=str(expires + 3600))).status_code == FORBIDDEN


def test_other_path_with_same_signature_is_403(
    http_server: ServerProcess, client_factory: ClientFactory, result_url: str
) -> None:
    other = client_factory(http_server).upscale(make_image(seed=3), "1K")["image_urls"][0]
    stolen_query = urlsplit(result_url).query
    response = httpx.get(urlsplit(other)._replace(query=stolen_query).geturl())
    assert response.status_code == FORBIDDEN


def test_expired_url_is_403(http_server: ServerProcess, result_url: str) -> None:
    path = urlsplit(result_url).path
    expires = int(time.time()) - 1
    sig = signer_for(http_server).sign(path, expires)
    response = httpx.get(f"{http_server.base_url}{path}?expires={expires}&sig={sig}")
    assert response.status_code == FORBIDDEN


def test_url_expires_after_the_configured_ttl(service_factory, client_factory) -> None:
    clock = FakeClock()
    service = service_factory(IMAGETUNE_RESULT_URL_TTL="60", clock=clock)
    client = client_factory(service)
    url = client.upscale(make_image(), "1K")["image_urls"][0]
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert expires == int(clock().timestamp()) + 60
    clock.advance(59)
    assert client.download(url).status_code == 200
    clock.advance(2)
    assert client.download(url).status_code == FORBIDDEN


@pytest.mark.parametrize("query", ["", "?expires=123", "?sig=abc", "?expires=soon&sig=abc"])
def test_missing_or_malformed_signature_is_403(result_url: str, query: str) -> None:
    bare = urlsplit(result_url)._replace(query="").geturl()
    assert httpx.get(bare + query).status_code == FORBIDDEN


def test_unknown_file_with_valid_signature_is_404(http_server: ServerProcess) -> None:
    path = "/files/results/00000000-0000-4000-8000-000000000000.png"
    expires = int(time.time()) + 60
    sig = signer_for(http_server).sign(path, expires)
    response = httpx.get(f"{http_server.base_url}{path}?expires={expires}&sig={sig}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/files/../secret_key", "/files/%2e%2e/secret_key", "/files/results/.tmp-x", "/files/"],
)
def test_traversal_and_hidden_paths_are_404(http_server: ServerProcess, path: str) -> None:
    # Even a correctly signed traversal must not reach outside the files directory.
    expires = int(time.time()) + 60
    sig = signer_for(http_server).sign(path, expires)
    response = httpx.get(f"{http_server.base_url}{path}?expires={expires}&sig={sig}")
    assert response.status_code == 404


def test_keys_and_signatures_never_reach_the_log(
    http_server: ServerProcess, client_factory: ClientFactory, result_url: str
) -> None:
    client = client_factory(http_server)
    key = client.http.headers["Authorization"].split()[1]
    client.job("00000000-0000-4000-8000-000000000000")
    assert httpx.get(result_url).status_code == 200
    sig = parse_qs(urlsplit(result_url).query)["sig"][0]
    log = http_server.log()
    assert "sig=[redacted]" in log  # the download was logged, without its signature
    assert sig not in log
    assert key not in log
    assert key[:12] not in log  # not even the display prefix

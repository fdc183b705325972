"""The playground as HTTP sees it: where it is served, its headers, what it ships."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from imagetune.playground import PAGE, STATIC_DIR
from tests.conftest import ClientFactory, ServerFactory
from tests.support import ServerProcess, make_image


class PageAudit(HTMLParser):
    """Every script and stylesheet the page loads, and any inline code it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if "style" in named or any(name.startswith("on") for name in named):
            self.inline.append(f"<{tag}> with {sorted(named)}")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if named.get("src"):
                self.sources.append(named["src"] or "")
            else:
                self._in_script = True
        if tag == "link" and named.get("href"):
            self.sources.append(named["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("an inline <script>")


def test_the_page_is_served_at_the_root_with_a_strict_csp(http_server: ServerProcess) -> None:
    response = httpx.get(f"{http_server.base_url}/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = [part.strip() for part in response.headers["content-security-policy"].split(";")]
    assert "default-src 'self'" in csp
    # Local storage: result URLs are the service's own, under its public URL.
    assert f"img-src 'self' blob: {http_server.base_url}" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'none'" in csp
    assert not any("unsafe" in part for part in csp)


def test_the_page_loads_only_its_own_files_and_no_inline_code(
    http_server: ServerProcess,
) -> None:
    audit = PageAudit()
    audit.feed(httpx.get(f"{http_server.base_url}/").text)
    assert audit.inline == []
    assert "/playground/app.js" in audit.sources
    assert "/playground/vendor/img-comparison-slider/index.js" in audit.sources
    for source in audit.sources:
        assert source.startswith("/playground/"), source  # no CDN, nothing elsewhere
        response = httpx.get(f"{http_server.base_url}{source}")
        assert response.status_code == 200, source
        assert response.headers["x-content-type-options"] == "nosniff"
    script = httpx.get(f"{http_server.base_url}/playground/app.js")
    assert script.headers["content-type"].startswith("text/javascript")


def test_vendored_code_carries_its_version_and_licence() -> None:
    vendored = [path for path in (STATIC_DIR / "vendor").iterdir() if path.is_dir()]
    assert [path.name for path in vendored] == ["img-comparison-slider"]
    for package in vendored:
        version = (package / "VERSION").read_text()
        assert re.match(rf"^{package.name} \d+\.\d+\.\d+\n", version)
        assert "from: npm registry" in version
        assert "Permission is hereby granted" in (package / "LICENSE").read_text()


def test_the_key_never_goes_into_a_url_or_a_cookie() -> None:
    # The page's code keeps the key in sessionStorage and sends it as a header only.
    code = (STATIC_DIR / "app.js").read_text()
    assert "sessionStorage" in code
    assert "localStorage" not in code
    assert "document.cookie" not in code
    assert 'credentials: "omit"' in code
    # Without its script the form cannot submit anywhere (form-action 'none').
    assert 'type="password"' in PAGE.read_text()


def test_the_files_route_keeps_its_deny_all_csp(
    http_server: ServerProcess, client_factory: ClientFactory
) -> None:
    client = client_factory(http_server)
    job = client.upscale(make_image((32, 24)), "1K")
    response = httpx.get(job["image_urls"][0])
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


@pytest.mark.slow
def test_api_only_nodes_serve_the_page_and_it_can_be_turned_off(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    api_node = server_factory(tmp_path / "api", args=("--no-workers",))
    assert httpx.get(f"{api_node.base_url}/").status_code == 200
    off = server_factory(tmp_path / "off", IMAGETUNE_WORKERS="0", IMAGETUNE_PLAYGROUND="0")
    for path in ("/", "/playground/app.js"):
        response = httpx.get(f"{off.base_url}{path}")
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}
    assert httpx.get(f"{off.base_url}/healthz").status_code == 200
    # The start-up banner names the playground only where there is one.
    assert f"playground: {api_node.base_url}/" in api_node.log()
    assert "playground: " not in off.log()
    # Not part of the API: the OpenAPI schema stays the API's alone.
    schema = httpx.get(f"{api_node.base_url}/openapi.json").json()
    assert "/" not in schema["paths"]

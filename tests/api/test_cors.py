from __future__ import annotations

import httpx

PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


def test_cors_is_off_by_default(shared_server) -> None:
    url = f"{shared_server.base_url}/public/v1/image-tune/upscale"
    response = httpx.options(url, headers=PREFLIGHT)
    assert "access-control-allow-origin" not in response.headers
    get = httpx.get(f"{shared_server.base_url}/healthz", headers={"Origin": PREFLIGHT["Origin"]})
    assert "access-control-allow-origin" not in get.headers


def test_configured_origins_are_allowed(server_factory) -> None:
    server = server_factory(
        IMAGETUNE_WORKERS="0", IMAGETUNE_CORS_ORIGINS='["https://app.example.com"]'
    )
    url = f"{server.base_url}/public/v1/image-tune/upscale"
    allowed = httpx.options(url, headers=PREFLIGHT)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    other = httpx.options(url, headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

from __future__ import annotations

PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


def test_cors_is_off_by_default(shared_server) -> None:
    url = "/public/v1/image-tune/upscale"
    response = shared_server.http.options(url, headers=PREFLIGHT)
    assert "access-control-allow-origin" not in response.headers
    get = shared_server.http.get("/healthz", headers={"Origin": PREFLIGHT["Origin"]})
    assert "access-control-allow-origin" not in get.headers


def test_configured_origins_are_allowed(service_factory) -> None:
    server = service_factory(
        IMAGETUNE_WORKERS="0", IMAGETUNE_CORS_ORIGINS='["https://app.example.com"]'
    )
    url = "/public/v1/image-tune/upscale"
    allowed = server.http.options(url, headers=PREFLIGHT)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    other = server.http.options(url, headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

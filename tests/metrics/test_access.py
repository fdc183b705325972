"""Who may read /metrics: anyone, a bearer token's holder, or nobody (turned off)."""

from __future__ import annotations

from tests.conftest import ServiceFactory
from tests.metrics.scraping import parse


def test_the_token_rule(service_factory: ServiceFactory) -> None:
    service = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_METRICS_TOKEN="metrics-secret")
    http = service.http
    missing = http.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    odd = {"Authorization": "Bearer café".encode()}
    assert http.get("/metrics", headers=odd).status_code == 401  # not a 500
    basic = {"Authorization": "Basic metrics-secret"}
    assert http.get("/metrics", headers=basic).status_code == 401
    right = http.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
    assert right.status_code == 200
    assert any(s.name == "imagetune_jobs" for s in parse(right.text))


def test_open_without_a_token(service_factory: ServiceFactory) -> None:
    response = service_factory(IMAGETUNE_WORKERS="0").http.get("/metrics")
    assert response.status_code == 200
    assert "imagetune_rejections_total" in response.text


def test_turned_off(service_factory: ServiceFactory) -> None:
    service = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_METRICS="0")
    assert service.http.get("/metrics").status_code == 404
    # Request ids and the access log do not depend on metrics.
    assert service.http.get("/healthz").headers["X-Request-ID"]


def test_not_in_the_public_api_schema(service_factory: ServiceFactory) -> None:
    schema = service_factory(IMAGETUNE_WORKERS="0").http.get("/openapi.json").json()
    assert "/metrics" not in schema["paths"]

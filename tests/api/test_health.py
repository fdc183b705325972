from __future__ import annotations

import httpx

from tests.support import ServerProcess


def test_healthz(shared_server: ServerProcess) -> None:
    response = httpx.get(f"{shared_server.base_url}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_reports_database_and_workers(shared_server: ServerProcess) -> None:
    response = httpx.get(f"{shared_server.base_url}/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": True,
        "storage": True,
        "workers_expected": 2,
        "workers_alive": 2,
        "device": "CPU",
    }


def test_openapi_docs(shared_server: ServerProcess) -> None:
    assert httpx.get(f"{shared_server.base_url}/docs").status_code == 200
    schema = httpx.get(f"{shared_server.base_url}/openapi.json").json()
    assert "/public/v1/image-tune/upscale" in schema["paths"]
    assert "/public/v1/job/{job_id}" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]

from __future__ import annotations

from tests.inprocess import InProcessService


def test_healthz(shared_server: InProcessService) -> None:
    response = shared_server.http.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_reports_database_and_workers(shared_server: InProcessService) -> None:
    response = shared_server.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": True,
        "storage": True,
        "workers_expected": 1,
        "workers_alive": 1,
        "device": "CPU",
        "problems": {},
    }


def test_openapi_docs(shared_server: InProcessService) -> None:
    assert shared_server.http.get("/docs").status_code == 200
    schema = shared_server.http.get("/openapi.json").json()
    assert "/public/v1/image-tune/upscale" in schema["paths"]
    assert "/public/v1/job/{job_id}" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]

"""The whole service on PostgreSQL instead of the embedded SQLite file."""

from __future__ import annotations

import httpx

from tests.conftest import ClientFactory
from tests.databases import fresh_postgres_database
from tests.support import make_image, open_image


def test_full_flow_and_restart_on_postgresql(server_factory, client_factory: ClientFactory) -> None:
    with fresh_postgres_database() as url:
        server = server_factory(IMAGETUNE_DATABASE_URL=url, IMAGETUNE_WORKERS="0")
        client = client_factory(server)
        queued = client.submit(make_image((60, 40)), "1K").json()["job_id"]
        assert client.job(queued).json()["status"] == "Pending"
        server.stop()

        restarted = server_factory(
            server.data_dir, IMAGETUNE_DATABASE_URL=url, IMAGETUNE_WORKERS="1", processor="sleep:0"
        )
        client.http.base_url = httpx.URL(restarted.base_url)
        job = client.wait(queued)
        assert job["status"] == "Succeed"
        assert open_image(client.download(job["image_urls"][0]).content).size == (1024, 683)
        assert not (restarted.data_dir / "imagetune.db").exists()  # nothing went to SQLite
        ready = restarted.http.get("/readyz").json()
        assert ready["database"] is True
        restarted.stop()

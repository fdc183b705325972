"""Budgets hold across API processes: two `imagetune serve` on one PostgreSQL database."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imagetune.jobs.models import Scale
from tests.api.test_admin_http import IMAGE, TOKEN, wait_refused
from tests.conftest import ServerFactory
from tests.databases import fresh_postgres_database
from tests.support import ApiClient, make_image

pytestmark = pytest.mark.slow

FITTING = 3
"""Jobs that fit the budget below; the fourth would overrun it."""


def test_two_api_processes_never_overrun_a_budget(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    with fresh_postgres_database() as url:
        # No workers: every admitted job stays unfinished, holding its output in the budget.
        env = {
            "IMAGETUNE_DATABASE_URL": url,
            "IMAGETUNE_WORKERS": "0",
            "IMAGETUNE_ADMIN_TOKEN": TOKEN,
            "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
        }
        servers = [server_factory(tmp_path / name, **env) for name in ("a", "b")]
        admin = servers[0].client_for(TOKEN)
        name = f"user-{uuid.uuid4().hex[:8]}"
        assert admin.post("/admin/v1/users", json={"name": name}).status_code == 201
        key = admin.post(f"/admin/v1/users/{name}/keys").json()["key"]
        budget = (FITTING + 0.5) * Scale.K1.output_pixels(*IMAGE) / 1e6
        admin.put(f"/admin/v1/users/{name}/budget", json={"monthly_output_megapixels": budget})

        clients = [ApiClient(server.client_for(key)) for server in servers]
        images = [make_image(IMAGE, seed=n) for n in range(10)]
        with ThreadPoolExecutor(len(images)) as pool:
            answers = list(pool.map(lambda n: clients[n % 2].submit(images[n]), range(len(images))))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] * FITTING + [429] * (len(images) - FITTING)
        for answer in answers:
            if answer.status_code == 429:
                assert answer.json() == {"detail": "Monthly budget exceeded"}
                assert int(answer.headers["Retry-After"]) >= 1
        [user] = servers[1].client_for(TOKEN).get("/admin/v1/users").json()
        assert user["monthly_output_megapixels"] == round(budget, 6)

        # A key revoked through one process is refused by the other within the cache bound.
        assert servers[1].client_for(TOKEN).delete(f"/admin/v1/keys/{key[:12]}").status_code == 204
        wait_refused(clients[0], 401)
        for client in clients:
            client.close()
        admin.close()

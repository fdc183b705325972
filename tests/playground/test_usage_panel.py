"""The playground's usage panel, in Chromium against a real `imagetune serve`."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.test_admin_http import TOKEN
from tests.conftest import ServerFactory
from tests.playground.conftest import Playground
from tests.support import ServerProcess, make_image

pytestmark = pytest.mark.slow


def test_the_panel_shows_this_months_usage_and_the_budget(
    server_factory: ServerFactory, open_playground: Callable[[ServerProcess], Playground]
) -> None:
    server = server_factory(processor="sleep:0", IMAGETUNE_WORKERS="1", IMAGETUNE_ADMIN_TOKEN=TOKEN)
    admin = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"})
    admin.post("/admin/v1/users", json={"name": "panel"}).raise_for_status()
    key = admin.post("/admin/v1/users/panel/keys").json()["key"]
    admin.put("/admin/v1/users/panel/budget", json={"monthly_output_megapixels": 10})

    tab = open_playground(server)
    panel = tab.page.get_by_role("region", name="Your usage this month")
    tab.fill_key(key)
    panel.get_by_text("0 (0 succeeded, 0 reused, 0 failed)").wait_for()
    panel.get_by_text("0 MP of 10 MP").wait_for()

    tab.choose_image("small.png", make_image((64, 48)))
    tab.page.get_by_label("Scale").select_option("1K")
    tab.page.get_by_role("button", name="Upscale").click()
    # 1024 x 768 delivered: the panel follows the job list.
    panel.get_by_text("1 (1 succeeded, 0 reused, 0 failed)").wait_for(timeout=60_000)
    panel.get_by_text("0.79 MP of 10 MP").wait_for()
    tab.screenshots("usage-panel", focus=panel)
    admin.close()

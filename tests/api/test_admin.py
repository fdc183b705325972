"""The admin API's presence: only with IMAGETUNE_ADMIN_TOKEN set (in-process; the routes
themselves are tested over real HTTP in test_admin_http.py)."""

from __future__ import annotations

import pydantic
import pytest

from imagetune.config import Settings


def test_without_a_token_the_admin_paths_do_not_exist(service_factory) -> None:
    service = service_factory(IMAGETUNE_WORKERS="0")
    for method, path in (("GET", "/admin/v1/users"), ("POST", "/admin/v1/users/x/keys")):
        response = service.http.request(method, path, headers={"Authorization": "Bearer x"})
        assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    paths = service.http.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/admin/")]
    assert "/public/v1/usage" in paths


def test_a_short_admin_token_is_refused_at_start() -> None:
    with pytest.raises(pydantic.ValidationError, match="admin_token"):
        Settings(admin_token="guessable")

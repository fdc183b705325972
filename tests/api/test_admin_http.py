"""The admin API over real HTTP: every route and every refusal, against one `imagetune
serve` with IMAGETUNE_ADMIN_TOKEN set; its usage against the jobs, and the CLI beside it."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from imagetune.jobs.models import Scale
from imagetune.jobs.usage import seconds_to_next_month
from tests.cli.test_accounts_cli import imagetune
from tests.support import ApiClient, ServerProcess, make_image

pytestmark = pytest.mark.slow

TOKEN = "admin-token-for-tests-0123456789"
IMAGE = (64, 48)
"""Its 1K result is 1024 x 768: 0.786432 output megapixels."""
ONE_K_MP = Scale.K1.output_pixels(*IMAGE) / 1e6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("admin") / "data",
        env={"IMAGETUNE_WORKERS": "1", "IMAGETUNE_ADMIN_TOKEN": TOKEN},
        processor="sleep:0",
    )
    server.start()
    yield server
    server.stop()
    server.assert_no_server_errors()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client_for(TOKEN) as client:
        yield client


def new_user(admin: httpx.Client) -> tuple[str, str]:
    """A new user's name and a key of theirs, made through the admin API."""
    name = f"user-{uuid.uuid4().hex[:8]}"
    assert admin.post("/admin/v1/users", json={"name": name}).status_code == 201
    created = admin.post(f"/admin/v1/users/{name}/keys")
    assert created.status_code == 201
    return name, created.json()["key"]


def wait_refused(client: ApiClient, status: int, timeout: float = 5.0) -> None:
    """Until the key is refused with ``status`` (the key cache trusts a key for 1 s)."""
    deadline = time.monotonic() + timeout
    while client.http.get("/public/v1/models").status_code != status:
        assert time.monotonic() < deadline, f"still not {status} after {timeout} s"
        time.sleep(0.1)


ROUTES = [
    ("POST", "/admin/v1/users", {"name": "x"}),
    ("GET", "/admin/v1/users", None),
    ("DELETE", "/admin/v1/users/x", None),
    ("POST", "/admin/v1/users/x/keys", None),
    ("GET", "/admin/v1/users/x/keys", None),
    ("DELETE", "/admin/v1/keys/itk_abcdefgh", None),
    ("PUT", "/admin/v1/users/x/budget", {"monthly_output_megapixels": 1}),
    ("GET", "/admin/v1/usage", None),
]


def test_every_route_refuses_anything_but_the_admin_token(
    server: ServerProcess, admin: httpx.Client
) -> None:
    _, key = new_user(admin)
    wrong = [
        {},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {key}"},  # a user's key is no admin token
    ]
    for method, path, _body in ROUTES:
        for headers in wrong:
            # An invalid body too: the token is checked before anything is read.
            response = server.http.request(method, path, headers=headers, content=b"{")
            assert (response.status_code, response.json()) == (
                401,
                {"detail": "Invalid admin token"},
            ), (method, path, headers)
    # And the admin token is no API key.
    for path in ("/public/v1/job/00000000-0000-4000-8000-000000000000", "/public/v1/usage"):
        response = admin.get(path)
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid API key"})


def test_users_and_keys(server: ServerProcess, admin: httpx.Client) -> None:
    name = f"ann-{uuid.uuid4().hex[:6]}"
    created = admin.post("/admin/v1/users", json={"name": name})
    assert created.status_code == 201
    assert created.json() | {"created_at": None} == {
        "name": name,
        "created_at": None,
        "active_keys": 0,
        "monthly_output_megapixels": None,
    }
    duplicate = admin.post("/admin/v1/users", json={"name": name})
    assert (duplicate.status_code, duplicate.json()) == (409, {"detail": "User already exists"})
    for bad in ("", "a/b", " padded", "x" * 65, "tab\there"):
        refused = admin.post("/admin/v1/users", json={"name": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["detail"][0]["loc"] == ["body", "name"]
    assert admin.post("/admin/v1/users", json={}).status_code == 422

    key = admin.post(f"/admin/v1/users/{name}/keys").json()
    assert set(key) == {"key", "prefix", "created_at"}
    assert key["key"].startswith(key["prefix"])
    client = ApiClient(server.client_for(key["key"]))
    assert client.http.get("/public/v1/models").status_code == 200

    listed = admin.get(f"/admin/v1/users/{name}/keys").json()
    assert [k["prefix"] for k in listed] == [key["prefix"]]
    assert key["key"] not in json.dumps(listed)
    assert listed[0]["revoked"] is False
    assert listed[0]["last_used_at"] is not None  # the request above
    [user] = [u for u in admin.get("/admin/v1/users").json() if u["name"] == name]
    assert user["active_keys"] == 1

    missing = admin.post(f"/admin/v1/users/nobody-{name}/keys")
    assert (missing.status_code, missing.json()) == (404, {"detail": "User not found"})
    assert admin.get(f"/admin/v1/users/nobody-{name}/keys").status_code == 404

    assert admin.delete(f"/admin/v1/keys/{key['prefix']}").status_code == 204
    assert admin.get(f"/admin/v1/users/{name}/keys").json()[0]["revoked"] is True
    again = admin.delete(f"/admin/v1/keys/{key['prefix']}")
    assert (again.status_code, again.json()) == (404, {"detail": "Key not found"})
    # Refused within the key cache's bound (1 s), here on the process that revoked it.
    wait_refused(client, 401)

    second = admin.post(f"/admin/v1/users/{name}/keys").json()["key"]
    assert admin.delete(f"/admin/v1/users/{name}").status_code == 204
    gone = admin.delete(f"/admin/v1/users/{name}")
    assert (gone.status_code, gone.json()) == (404, {"detail": "User not found"})
    assert name not in [u["name"] for u in admin.get("/admin/v1/users").json()]
    orphan = ApiClient(server.client_for(second))
    wait_refused(orphan, 404)
    assert orphan.http.get("/public/v1/models").json() == {"detail": "Not Found User"}


def test_budgets(server: ServerProcess, admin: httpx.Client) -> None:
    name, key = new_user(admin)
    client = ApiClient(server.client_for(key))
    for bad in ({}, {"monthly_output_megapixels": -1}, {"monthly_output_megapixels": "lots"}):
        assert admin.put(f"/admin/v1/users/{name}/budget", json=bad).status_code == 422
    unknown = admin.put(
        "/admin/v1/users/nobody-at-all/budget", json={"monthly_output_megapixels": 1}
    )
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "User not found"})

    # Less than one job: the upload is read, the job refused when it would not fit.
    budget = admin.put(f"/admin/v1/users/{name}/budget", json={"monthly_output_megapixels": 0.5})
    assert budget.status_code == 200
    assert budget.json()["monthly_output_megapixels"] == 0.5
    refused = client.submit(make_image(IMAGE))
    assert (refused.status_code, refused.json()) == (429, {"detail": "Monthly budget exceeded"})
    now = datetime.now(UTC)
    assert abs(int(refused.headers["Retry-After"]) - seconds_to_next_month(now)) <= 5

    # Exactly one job: it runs; then the budget is used up, refused before the upload.
    admin.put(f"/admin/v1/users/{name}/budget", json={"monthly_output_megapixels": ONE_K_MP})
    assert client.upscale(make_image(IMAGE))["status"] == "Succeed"
    used_up = client.http.post("/public/v1/image-tune/upscale", data={"scale": "9K"})
    assert (used_up.status_code, used_up.json()) == (429, {"detail": "Monthly budget exceeded"})
    assert "Retry-After" in used_up.headers

    own = client.http.get("/public/v1/usage").json()
    assert own["budget"]["monthly_output_megapixels"] == ONE_K_MP
    assert own["budget"]["used_output_megapixels"] == ONE_K_MP
    assert own["rows"][0]["output_megapixels"] == ONE_K_MP

    # Cleared: no limit. The CLI sets the same budget the API shows.
    cleared = admin.put(f"/admin/v1/users/{name}/budget", json={"monthly_output_megapixels": None})
    assert cleared.json()["monthly_output_megapixels"] is None
    assert client.submit(make_image(IMAGE, seed=1)).status_code == 200
    imagetune(server.data_dir, "users", "budget", name, "--monthly-megapixels", "12.5")
    [user] = [u for u in admin.get("/admin/v1/users").json() if u["name"] == name]
    assert user["monthly_output_megapixels"] == 12.5
    assert "12.5" in imagetune(server.data_dir, "users", "list").stdout


def test_usage_agrees_with_the_jobs_and_the_cli(server: ServerProcess, admin: httpx.Client) -> None:
    name, key = new_user(admin)
    client = ApiClient(server.client_for(key))
    image = make_image(IMAGE, seed=7)
    first = client.upscale(image)
    again = client.upscale(image)  # the same request: its result is reused
    bigger = client.upscale(make_image(IMAGE, seed=8), "2K")
    jobs = [first, again, bigger]
    assert [job["status"] for job in jobs] == ["Succeed"] * 3

    query = {"user": name, "group_by": "user,scale"}
    body = admin.get("/admin/v1/usage", params=query).json()
    today = datetime.now(UTC).date()
    assert (body["since"], body["until"]) == (today.replace(day=1).isoformat(), today.isoformat())
    assert body["group_by"] == ["user", "scale"]
    rows = body["rows"]
    assert [(r["user"], r["scale"], r["jobs"], r["succeeded"], r["reused"]) for r in rows] == [
        (name, "1K", 2, 1, 1),
        (name, "2K", 1, 1, 0),
    ]
    assert "day" not in rows[0]
    assert rows[0]["output_megapixels"] == ONE_K_MP  # the reused result counts no output
    assert rows[1]["output_megapixels"] == Scale.K2.output_pixels(*IMAGE) / 1e6
    assert rows[0]["input_megapixels"] == 2 * IMAGE[0] * IMAGE[1] / 1e6
    ran = [first, bigger]  # the reused job never ran
    seconds = sum(
        (
            datetime.fromisoformat(j["finished_at"]) - datetime.fromisoformat(j["started_at"])
        ).total_seconds()
        for j in ran
    )
    assert sum(r["processing_seconds"] for r in rows) == pytest.approx(seconds, abs=0.01)

    # The user sees the same, and only their own.
    own = client.http.get("/public/v1/usage", params={"group_by": "scale"}).json()
    assert own["rows"] == [{k: v for k, v in r.items() if k != "user"} for r in rows]
    assert own["budget"] is None
    assert client.http.get("/public/v1/usage", params={"group_by": "user"}).status_code == 422

    # The CLI prints the same rows.
    printed = imagetune(server.data_dir, "usage", "--user", name, "--by", "user,scale", "--json")
    assert json.loads(printed.stdout) == body
    table = imagetune(server.data_dir, "usage", "--user", name, "--by", "scale", "--csv").stdout
    parsed = list(csv.DictReader(io.StringIO(table)))
    assert [(r["scale"], r["jobs"]) for r in parsed] == [("1K", "2"), ("2K", "1")]

    for params in (
        {"group_by": "day,colour"},
        {"since": "2026-02-01", "until": "2026-01-01"},
        {"since": "yesterday"},
    ):
        assert admin.get("/admin/v1/usage", params=params).status_code == 422, params
    unknown = admin.get("/admin/v1/usage", params={"user": "nobody-at-all"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "User not found"})
    [total] = admin.get("/admin/v1/usage", params={"since": "2000-01-01"}).json()["rows"]
    assert total["jobs"] >= 3


def test_the_admin_api_is_in_the_openapi_document_under_its_own_tag(admin: httpx.Client) -> None:
    paths = admin.get("/openapi.json").json()["paths"]
    admin_paths = {path for path in paths if path.startswith("/admin/v1/")}
    assert admin_paths == {
        "/admin/v1/users",
        "/admin/v1/users/{name}",
        "/admin/v1/users/{name}/keys",
        "/admin/v1/keys/{prefix}",
        "/admin/v1/users/{name}/budget",
        "/admin/v1/usage",
    }
    for path in admin_paths:
        for operation in paths[path].values():
            assert operation["tags"] == ["admin"]

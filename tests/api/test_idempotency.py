"""The Idempotency-Key header of POST /public/v1/image-tune/upscale."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from imagetune.clock import utcnow
from imagetune.db.engine import make_engine
from imagetune.db.models import IdempotencyKey, Job
from imagetune.jobs.idempotency import IdempotencyKeyReused, IdempotencyKeys
from imagetune.jobs.models import NewJob, Scale
from tests.conftest import ClientFactory, ServerFactory, ServiceFactory
from tests.databases import fresh_postgres_database
from tests.factories import JobWorld
from tests.support import ApiClient, ServerProcess, make_image

UPSCALE = "/public/v1/image-tune/upscale"
REUSED = {"detail": "Idempotency-Key was already used for a different request"}


def submit(client: ApiClient, key: str | None, image: bytes, **fields: str) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.http.post(
        UPSCALE,
        files={"image": ("image.png", image, "application/octet-stream")},
        data={"scale": "1K", **fields},
        headers=headers,
    )


def count(server: ServerProcess, table: type[Job] | type[IdempotencyKey]) -> int:
    engine = make_engine(
        server.env.get("IMAGETUNE_DATABASE_URL") or f"sqlite:///{server.data_dir / 'imagetune.db'}"
    )
    with engine.connect() as connection:
        total = connection.scalar(select(func.count()).select_from(table))
    engine.dispose()
    return int(total or 0)


def originals(server: ServerProcess) -> list[Path]:
    return list((server.data_dir / "files" / "originals").glob("*"))


def test_same_key_same_request_is_the_same_job(
    service_factory: ServiceFactory, client_factory: ClientFactory
) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(server)
    image = make_image()
    first = submit(client, "order-1", image)
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    again = submit(client, "order-1", image)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # Spelling out a default is the same request.
    explicit = submit(client, "order-1", image, model="photo", output_format="png")
    assert explicit.json() == first.json()
    assert count(server, Job) == 1
    assert len(originals(server)) == 1
    # Without a key nothing changes: two requests, two jobs.
    assert submit(client, None, image).json() != submit(client, None, image).json()
    assert count(server, Job) == 3


def test_same_key_different_request_is_422(
    service_factory: ServiceFactory, client_factory: ClientFactory
) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(server)
    assert submit(client, "k", make_image(seed=1)).status_code == 200
    other_image = submit(client, "k", make_image(seed=2))
    assert (other_image.status_code, other_image.json()) == (422, REUSED)
    other_scale = submit(client, "k", make_image(seed=1), scale="2K")
    assert (other_scale.status_code, other_scale.json()) == (422, REUSED)
    other_model = submit(client, "k", make_image(seed=1), model="classic")
    assert (other_model.status_code, other_model.json()) == (422, REUSED)
    assert count(server, Job) == 1


def test_keys_are_per_user(service_factory: ServiceFactory, client_factory: ClientFactory) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0")
    alice, bob = client_factory(server), client_factory(server)
    image = make_image()
    mine = submit(alice, "shared-key", image).json()["job_id"]
    theirs = submit(bob, "shared-key", image).json()["job_id"]
    assert mine != theirs
    assert bob.job(mine).status_code == 404  # a key never reveals another user's job
    # And another user's key with a different upload is not a conflict.
    assert submit(bob, "other", make_image(seed=3)).status_code == 200
    assert submit(alice, "other", make_image(seed=4)).status_code == 200


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "caf\u00e9", "tab\there"],
    ids=["empty", "too-long", "non-ascii", "control"],
)
def test_malformed_keys_are_422(
    service_factory: ServiceFactory, client_factory: ClientFactory, key: str
) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(server)
    response = client.http.post(
        UPSCALE,
        files={"image": ("image.png", make_image(), "application/octet-stream")},
        data={"scale": "1K"},
        headers=[("Idempotency-Key", key.encode("latin-1"))],
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(server, Job) == 0
    longest = submit(client, "~" * 255, make_image())
    assert longest.status_code == 200


def test_a_replay_is_no_new_job_to_the_quotas(
    server_factory: ServerFactory, client_factory: ClientFactory
) -> None:
    server = server_factory(
        IMAGETUNE_WORKERS="0",
        IMAGETUNE_MAX_UNFINISHED_PER_USER="1",
        IMAGETUNE_RATE_LIMIT_PER_MINUTE="2",
    )
    client = client_factory(server)
    image = make_image()
    first = submit(client, "once", image).json()
    for _ in range(3):  # over both the unfinished cap (1) and the rate limit (2)
        replay = submit(client, "once", image)
        assert (replay.status_code, replay.json()) == (200, first)
    # A new key is a new job: the cap applies.
    refused = submit(client, "twice", image)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many unfinished jobs")


def concurrently(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``call(i)`` from ``count`` threads released together."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException | None] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    responses = [r for r in results if isinstance(r, httpx.Response)]
    assert len(responses) == count, results
    return responses


def test_concurrent_identical_submissions_make_one_job(
    server_factory: ServerFactory, client_factory: ClientFactory
) -> None:
    server = server_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(server)
    image = make_image((200, 150))
    responses = concurrently(10, lambda _: submit(client, "burst", image))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert count(server, Job) == 1
    assert count(server, IdempotencyKey) == 1
    # The requests that lost the race stored nothing that stays.
    assert len(originals(server)) == 1


@pytest.mark.slow
def test_one_job_across_api_processes_on_postgresql(
    server_factory: ServerFactory, client_factory: ClientFactory, tmp_path: Path
) -> None:
    with fresh_postgres_database() as url:
        env = {"IMAGETUNE_DATABASE_URL": url, "IMAGETUNE_WORKERS": "0"}
        first = server_factory(tmp_path / "one", **env)
        second = server_factory(tmp_path / "two", **env)
        client = client_factory(first)
        other_process = ApiClient(second.client_for(client.http.headers["Authorization"][7:]))
        image = make_image((200, 150))
        clients = [client, other_process]
        try:
            responses = concurrently(10, lambda i: submit(clients[i % 2], "pg-burst", image))
            assert {r.status_code for r in responses} == {200}
            assert len({r.json()["job_id"] for r in responses}) == 1
            assert count(first, Job) == 1
            conflict = submit(other_process, "pg-burst", make_image(seed=9))
            assert (conflict.status_code, conflict.json()) == (422, REUSED)
            assert len(originals(first)) + len(originals(second)) == 1
        finally:
            other_process.close()
            first.kill()
            second.kill()


def new_job(world: JobWorld) -> NewJob:
    job_id = uuid.uuid4()
    return NewJob(job_id, world.user_id, Scale.K1, f"originals/{job_id}")


def test_the_database_lets_one_job_through(database_url: str) -> None:
    # Two requests that both looked the key up before either created its job: the
    # database's key, not the look-up, decides.
    world = JobWorld(database_url)
    keys = IdempotencyKeys(world.sessions, timedelta(hours=1))
    first = keys.claim(world.user_id, "race", b"image", {"scale": "1K"})
    second = keys.claim(world.user_id, "race", b"image", {"scale": "1K"})
    assert first.replayed() is None
    assert second.replayed() is None
    winner = new_job(world)
    assert first.create(world.store.create, winner) is None
    assert second.create(world.store.create, new_job(world)) == winner.id
    different = keys.claim(world.user_id, "race", b"other image", {"scale": "1K"})
    with pytest.raises(IdempotencyKeyReused):
        different.create(world.store.create, new_job(world))
    assert world.store.count_unfinished(world.user_id) == 1


def test_a_key_is_forgotten_after_the_retention_period(database_url: str) -> None:
    world = JobWorld(database_url)
    keys = IdempotencyKeys(world.sessions, timedelta(hours=1))

    def age(minutes: int) -> None:
        with world.sessions.begin() as session:
            session.execute(
                update(IdempotencyKey).values(created_at=utcnow() - timedelta(minutes=minutes))
            )

    first = new_job(world)
    assert keys.claim(world.user_id, "k", b"a", {}).create(world.store.create, first) is None
    age(59)
    assert keys.claim(world.user_id, "k", b"a", {}).replayed() == first.id
    assert keys.is_replay(world.user_id, "k")
    age(61)
    assert not keys.is_replay(world.user_id, "k")
    later = keys.claim(world.user_id, "k", b"something else", {})
    assert later.replayed() is None
    second = new_job(world)
    assert later.create(world.store.create, second) is None
    assert keys.claim(world.user_id, "k", b"something else", {}).replayed() == second.id

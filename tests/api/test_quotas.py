"""Per-user rate limit, per-user unfinished-job cap, global queue cap."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from imagetune.accounts import Accounts
from imagetune.api.quotas import RateLimiter, SharedRateLimiter
from imagetune.db.database import open_database
from tests.conftest import ClientFactory
from tests.databases import fresh_postgres_database
from tests.support import make_image


def test_rate_limit_answers_429_with_headers(service_factory, client_factory) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_RATE_LIMIT_PER_MINUTE="3")
    client, other = client_factory(server), client_factory(server)
    remaining = []
    for _ in range(3):
        response = client.submit(make_image(), "1K")
        assert response.status_code == 200
        remaining.append(response.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = client.submit(make_image(), "1K")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Rate limit exceeded")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) > 0
    assert other.submit(make_image(), "1K").status_code == 200  # per user


def test_quota_is_checked_before_the_body(service_factory, client_factory) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_RATE_LIMIT_PER_MINUTE="1")
    client = client_factory(server)
    assert client.submit(make_image(), "1K").status_code == 200
    # A body that would be a 422 gets the 429: the upload is not read at all.
    response = client.http.post("/public/v1/image-tune/upscale", data={"scale": "9K"})
    assert response.status_code == 429


def test_unfinished_jobs_cap(service_factory, client_factory: ClientFactory) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_MAX_UNFINISHED_PER_USER="2")
    client, other = client_factory(server), client_factory(server)
    assert [client.submit(make_image(), "1K").status_code for _ in range(2)] == [200, 200]
    refused = client.submit(make_image(), "1K")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many unfinished jobs")
    assert "Retry-After" in refused.headers
    assert other.submit(make_image(), "1K").status_code == 200


def test_global_queue_cap_is_429(service_factory, client_factory: ClientFactory) -> None:
    server = service_factory(
        IMAGETUNE_WORKERS="0",
        IMAGETUNE_MAX_QUEUE_LENGTH="3",
        IMAGETUNE_MAX_UNFINISHED_PER_USER="0",
    )
    first, second = client_factory(server), client_factory(server)
    assert [first.submit(make_image(), "1K").status_code for _ in range(2)] == [200, 200]
    assert second.submit(make_image(), "1K").status_code == 200
    refused = second.submit(make_image(), "1K")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "The queue is full; try again shortly"}
    assert int(refused.headers["Retry-After"]) >= 1
    assert server.http.get("/readyz").status_code == 200


def test_token_bucket_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert [limiter.take(1)[0] for _ in range(3)] == [True, True, False]
    allowed, state = limiter.take(1)
    assert (allowed, state.remaining, state.reset) == (False, 0, 60)
    now[0] = 30.0  # half a minute: one token back
    assert limiter.take(1)[0] is True
    assert limiter.take(1)[0] is False
    assert limiter.take(2)[0] is True  # another user's bucket is full


def test_api_processes_on_postgresql_share_one_rate_limit() -> None:
    # Two API processes' limiters: each its own engine (connection pool) on one database.
    with fresh_postgres_database() as url:
        first, second = open_database(url), open_database(url, migrate=False)
        limiters = [SharedRateLimiter(3, db.engine.url) for db in (first, second)]
        try:
            user = Accounts(first.sessions).create_user("shared").id
            taken = [limiters[n % 2].take(user) for n in range(4)]
            assert [allowed for allowed, _ in taken] == [True, True, True, False]
            assert [state.remaining for _, state in taken] == [2, 1, 0, 0]
            assert taken[-1][1].reset > 0
            other = Accounts(first.sessions).create_user("other").id
            assert limiters[1].take(other)[0]  # per user
        finally:
            for limiter in limiters:
                limiter.close()
            first.close()
            second.close()


def test_a_users_first_submissions_at_once_are_all_admitted_on_postgresql() -> None:
    # Two API processes take a new user's first tokens at the same moment: both insert the
    # bucket, one insert loses, and that one must take from the winner's bucket, not 429.
    with fresh_postgres_database() as url:
        database = open_database(url)
        limiters = [SharedRateLimiter(10, database.engine.url) for _ in range(8)]
        try:
            user = Accounts(database.sessions).create_user("burst").id
            barrier = threading.Barrier(len(limiters))

            def take(limiter: SharedRateLimiter) -> bool:
                barrier.wait()
                return limiter.take(user)[0]

            with ThreadPoolExecutor(len(limiters)) as pool:
                assert list(pool.map(take, limiters)) == [True] * len(limiters)
            assert limiters[0].take(user)[1].remaining == 1
        finally:
            for limiter in limiters:
                limiter.close()
            database.close()

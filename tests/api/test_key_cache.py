"""Good keys are cached per API process for at most KEY_CACHE_SECONDS: a revoked key or a
deleted user is refused by every process within 2 s, with no message between them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from imagetune.api.keycache import KEY_CACHE_SECONDS, KeyCache
from tests.conftest import ServerFactory, ServiceFactory
from tests.databases import fresh_postgres_database
from tests.support import accounts_for

CONTRACT_LIMIT = 2.0
"""The issue's bound: no API process honours a revoked key for longer."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_good_key_is_trusted_for_the_ttl_from_when_the_database_was_asked() -> None:
    clock = FakeClock()
    cache = KeyCache(ttl=1.0, clock=clock)
    assert cache.user_id("itk_a") is None
    asked_at = cache.now()
    clock.now += 0.3  # the database read took a while
    cache.remember("itk_a", 7, asked_at)
    assert cache.user_id("itk_a") == 7
    clock.now = asked_at + 0.99
    assert cache.user_id("itk_a") == 7
    clock.now = asked_at + 1.0
    assert cache.user_id("itk_a") is None
    assert cache.user_id("itk_b") is None


def test_a_full_cache_drops_expired_entries_first_and_never_grows_past_its_bound() -> None:
    clock = FakeClock()
    cache = KeyCache(ttl=1.0, max_entries=3, clock=clock)
    cache.remember("itk_old", 1, clock.now)
    clock.now += 2
    cache.remember("itk_a", 2, clock.now)
    cache.remember("itk_b", 3, clock.now)
    cache.remember("itk_c", 4, clock.now)  # full: the expired entry goes
    assert [cache.user_id(k) for k in ("itk_old", "itk_a", "itk_b", "itk_c")] == [None, 2, 3, 4]
    cache.remember("itk_d", 5, clock.now)  # full of live entries: start again
    assert [cache.user_id(k) for k in ("itk_a", "itk_d")] == [None, 5]


def test_the_service_trusts_keys_for_less_than_the_contract_allows() -> None:
    assert KEY_CACHE_SECONDS < CONTRACT_LIMIT


Poll = Callable[[], str]
"""A poll of a job that does not exist: "Job not found" while the key works."""
WORKS = "Job not found"


def refused_within(polls: list[Poll], refused: str) -> None:
    """Every poll answers ``refused`` within CONTRACT_LIMIT s of now, and keeps doing so."""
    started = time.monotonic()
    for poll in polls:
        while (detail := poll()) != refused:
            assert detail == WORKS, detail
            assert time.monotonic() - started < CONTRACT_LIMIT, "still accepted after 2 s"
            time.sleep(0.02)
    assert all(poll() == refused for poll in polls)


def poller(base: str | httpx.Client, key: str) -> Poll:
    client = base if isinstance(base, httpx.Client) else httpx.Client(base_url=base)
    job = f"/public/v1/job/{uuid.uuid4()}"

    def poll() -> str:
        response = client.get(job, headers={"Authorization": f"Bearer {key}"})
        detail: str = response.json()["detail"]
        return detail

    return poll


@pytest.mark.parametrize(
    ("change", "refusal"), [("revoke", "Invalid API key"), ("delete", "Not Found User")]
)
def test_revocation_and_deletion_reach_a_warm_cache_within_two_seconds(
    service_factory: ServiceFactory, change: str, refusal: str
) -> None:
    service = service_factory()
    accounts = accounts_for(service.data_dir)
    accounts.create_user("alice")
    key = accounts.create_key("alice").key
    poll = poller(service.http, key)
    assert poll() == WORKS  # the key is now cached
    if change == "revoke":
        accounts.revoke_key(key)
    else:
        accounts.delete_user("alice")
    refused_within([poll], refusal)


@pytest.mark.slow
def test_two_api_processes_on_postgresql_refuse_a_revoked_key_within_two_seconds(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    with fresh_postgres_database() as url:
        env = {"IMAGETUNE_DATABASE_URL": url}
        apis = [
            server_factory(tmp_path / f"api-{n}", args=("--no-workers",), **env) for n in (1, 2)
        ]
        accounts = accounts_for(apis[0].data_dir, url)
        accounts.create_user("alice")
        key = accounts.create_key("alice").key
        polls = [poller(api.base_url, key) for api in apis]
        assert [poll() for poll in polls] == [WORKS, WORKS]  # both caches hold the key
        accounts.revoke_key(key)
        refused_within(polls, "Invalid API key")
        for api in apis:
            api.kill()  # before the database is dropped

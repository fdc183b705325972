"""Good keys are cached per API process for at most KEY_CACHE_SECONDS: a revoked key or a
deleted user is refused by every process within 2 s, with no message between them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from imagetune.api.keycache import KEY_CACHE_SECONDS, KeyCache
from imagetune.errors import InvalidApiKey
from tests.conftest import ServerFactory, ServiceFactory
from tests.databases import fresh_postgres_database
from tests.support import accounts_for

T = TypeVar("T")

CONTRACT_LIMIT = 2.0
"""The issue's bound: no API process honours a revoked key for longer."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeDatabase:
    """The cache's check: answers from ``users`` (a key's user id), refuses anything else
    with InvalidApiKey; ``gate`` (when set) holds every check until it is opened."""

    def __init__(self, clock: FakeClock, read_seconds: float = 0.0) -> None:
        self.users: dict[str, int] = {}
        self.asked: list[str] = []
        self.gate: asyncio.Event | None = None
        self._clock = clock
        self._read_seconds = read_seconds

    async def check(self, key: str) -> int:
        self.asked.append(key)
        if self.gate is not None:
            await self.gate.wait()
        self._clock.now += self._read_seconds
        if key not in self.users:
            raise InvalidApiKey()
        return self.users[key]


def cache_over(
    users: dict[str, int], read_seconds: float = 0.0, **options: Any
) -> tuple[FakeClock, FakeDatabase, KeyCache]:
    """A KeyCache asking a FakeDatabase that knows ``users``, on a FakeClock."""
    clock = FakeClock()
    database = FakeDatabase(clock, read_seconds)
    database.users.update(users)
    return clock, database, KeyCache(database.check, clock=clock, **options)


async def settle() -> None:
    """Let the tasks the cache started run as far as they can."""
    for _ in range(5):
        await asyncio.sleep(0)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_a_good_key_is_trusted_for_the_ttl_from_when_the_database_was_asked() -> None:
    # The read takes a while.
    clock, database, cache = cache_over({"itk_a": 7}, 0.3, ttl=1.0, refresh_after=1.0)

    async def scenario() -> None:
        asked_at = clock.now
        assert await cache.user_id("itk_a") == 7
        clock.now = asked_at + 0.99
        assert await cache.user_id("itk_a") == 7
        assert database.asked == ["itk_a"]  # from memory
        clock.now = asked_at + 1.0  # counted from before the read, not after it
        assert await cache.user_id("itk_a") == 7
        assert database.asked == ["itk_a", "itk_a"]

    run(scenario())


def test_refusals_are_never_remembered() -> None:
    _, database, cache = cache_over({})

    async def scenario() -> None:
        for _ in range(3):
            with pytest.raises(InvalidApiKey):
                await cache.user_id("itk_guess")
        assert database.asked == ["itk_guess"] * 3

    run(scenario())


def test_concurrent_requests_for_one_key_share_one_database_read() -> None:
    _, database, cache = cache_over({"itk_a": 7})

    async def scenario() -> None:
        database.gate = asyncio.Event()
        waiting = [asyncio.ensure_future(cache.user_id("itk_a")) for _ in range(16)]
        bad = [asyncio.ensure_future(cache.user_id("itk_bad")) for _ in range(4)]
        await asyncio.sleep(0)
        database.gate.set()
        assert await asyncio.gather(*waiting) == [7] * 16
        for refused in await asyncio.gather(*bad, return_exceptions=True):
            assert isinstance(refused, InvalidApiKey)
        assert sorted(database.asked) == ["itk_a", "itk_bad"]

    run(scenario())


def test_a_key_in_use_is_checked_again_in_the_background_and_a_refusal_lands() -> None:
    clock, database, cache = cache_over({"itk_a": 7}, ttl=1.0, refresh_after=0.5)

    async def scenario() -> None:
        assert await cache.user_id("itk_a") == 7
        clock.now += 0.6
        del database.users["itk_a"]  # revoked
        database.gate = asyncio.Event()
        # Past refresh_after: answered from memory at once, a check starts behind it.
        assert await cache.user_id("itk_a") == 7
        await settle()
        assert database.asked == ["itk_a", "itk_a"]  # one background check, not two
        database.gate.set()
        await settle()
        # The check was refused: the entry is gone, the next request asks and is refused.
        with pytest.raises(InvalidApiKey):
            await cache.user_id("itk_a")
        assert database.asked == ["itk_a"] * 3

    run(scenario())


def test_a_background_check_keeps_a_busy_key_from_ever_waiting() -> None:
    clock, database, cache = cache_over({"itk_a": 7}, ttl=1.0, refresh_after=0.5)

    async def scenario() -> None:
        assert await cache.user_id("itk_a") == 7
        for _ in range(20):  # a request every 0.1 s for 2 s: none past the ttl
            clock.now += 0.1
            gate = database.gate = asyncio.Event()
            # Answered while the check is held: it never waited for the database.
            assert await asyncio.wait_for(cache.user_id("itk_a"), timeout=5) == 7
            gate.set()
            await settle()
        assert 3 <= len(database.asked) <= 6

    run(scenario())


def test_a_full_cache_drops_expired_entries_first_and_never_grows_past_its_bound() -> None:
    users = {"itk_old": 1, "itk_a": 2, "itk_b": 3, "itk_c": 4, "itk_d": 5}
    clock, database, cache = cache_over(users, ttl=1.0, max_entries=3)

    async def from_memory(key: str) -> bool:
        before = len(database.asked)
        await cache.user_id(key)
        return len(database.asked) == before

    async def scenario() -> None:
        await cache.user_id("itk_old")
        clock.now += 2
        for key in ("itk_a", "itk_b", "itk_c"):  # full at the third: the expired one goes
            await cache.user_id(key)
        assert [await from_memory(k) for k in ("itk_a", "itk_b", "itk_c")] == [True] * 3
        await cache.user_id("itk_d")  # full of live entries: start again
        assert await from_memory("itk_d")
        assert not await from_memory("itk_a")

    run(scenario())


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

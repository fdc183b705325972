from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from imagetune.clock import utcnow
from imagetune.jobs.retention import purge_expired
from imagetune.signing import UrlSigner
from imagetune.storage.local import LocalStorage
from tests.clocks import FakeClock
from tests.factories import RETENTION, JobWorld
from tests.support import make_image, wait_until


def test_purge_deletes_expired_files_only(database_url: str, tmp_path: Path) -> None:
    world = JobWorld(database_url)
    storage = LocalStorage(
        tmp_path / "files", signer=UrlSigner(b"k" * 32), public_url="http://h", route="/files/"
    )
    done, failed, running = world.submit(age_seconds=3), world.submit(age_seconds=2), world.submit()
    for job_id in (done, failed, running):
        storage.write(f"originals/{job_id}", b"original")
    world.queue.claim("w")
    world.states.succeed(done, [f"results/{done}.png"])
    storage.write(f"results/{done}.png", b"result")
    world.queue.claim("w")
    world.states.fail(failed, "broken")
    world.queue.claim("w")

    assert purge_expired(world.store, world.states, storage, utcnow()) == 0  # none expired yet
    finished = world.store.get(done)
    assert finished is not None
    assert finished.expires_at == finished.finished_at + RETENTION  # type: ignore[operator]

    later = utcnow() + RETENTION + timedelta(seconds=1)
    assert {job.id for job in world.store.expired(later)} == {done, failed}
    assert purge_expired(world.store, world.states, storage, now=later) == 2
    assert not storage.exists(f"originals/{done}")
    assert not storage.exists(f"results/{done}.png")
    assert not storage.exists(f"originals/{failed}")
    assert storage.exists(f"originals/{running}")  # unfinished: kept, never lost
    assert world.store.get(done).purged_at is not None  # type: ignore[union-attr]
    assert purge_expired(world.store, world.states, storage, now=later) == 0


def test_results_expire_through_the_service(service_factory, client_factory) -> None:
    clock = FakeClock()
    service = service_factory(
        IMAGETUNE_RETENTION_SECONDS="3600", IMAGETUNE_PURGE_INTERVAL="0.05", clock=clock
    )
    client = client_factory(service)
    job = client.upscale(make_image(), "1K")
    assert job["status"] == "Succeed"
    expires_at = datetime.fromisoformat(job["expires_at"])
    finished_at = datetime.fromisoformat(job["finished_at"])
    assert expires_at - finished_at == timedelta(seconds=3600)
    url = job["image_urls"][0]
    # The link is never valid beyond the file it points to.
    assert int(parse_qs(urlsplit(url).query)["expires"][0]) <= expires_at.timestamp()
    assert client.download(url).status_code == 200

    clock.advance((expires_at - clock()).total_seconds() + 1)
    files = service.data_dir / "files"
    wait_until(lambda: not list((files / "results").iterdir()), 10, "the purge")
    assert not list((files / "originals").iterdir())
    after = client.job(job["job_id"]).json()
    assert after["status"] == "Succeed"
    assert after["image_urls"] == []
    assert client.download(url).status_code in (403, 404)

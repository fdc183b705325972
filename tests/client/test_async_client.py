"""``imagetune_client.AsyncClient``: the same methods, awaited, against a real server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from imagetune_client import (
    AsyncClient,
    AuthenticationError,
    IdempotencyKeyReused,
    InvalidImage,
    Job,
    JobNotFound,
    UploadTooLarge,
    ValidationError,
    WaitTimeout,
)

from tests.client.conftest import MAX_UPLOAD_BYTES, new_key
from tests.conftest import ServerFactory
from tests.support import ServerProcess, make_image, open_image


def test_upscale_end_to_end(server: ServerProcess, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_image((60, 40)))

    async def main() -> Path:
        async with AsyncClient(server.base_url, new_key(server)) as client:
            return await client.upscale(photo, scale="2K", model="classic")

    written = asyncio.run(main())
    assert written == tmp_path / "photo-2K.png"
    assert open_image(written.read_bytes()).size == (2048, 1365)


def test_every_method(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server)

    async def main() -> None:
        async with AsyncClient(server.base_url, key) as client:
            models = await client.models()
            assert "classic" in {m.name for m in models}
            job = await client.submit(make_image((40, 60)), scale="1K", model="classic")
            assert isinstance(job, Job)
            assert (await client.get(job.job_id)).job_id == job.job_id
            seen: list[Job] = []
            done = await client.wait(job, timeout=120, on_progress=seen.append)
            assert done.status == "Succeed"
            assert seen[-1] == done
            assert open_image(await client.download(done)).size == (683, 1024)
            target = await client.download(done, tmp_path / "out.png")
            assert open_image(target.read_bytes()).size == (683, 1024)
            # Submissions in flight together, as asyncio users run them.
            jobs = await asyncio.gather(
                *(client.submit(make_image(seed=i), scale="1K", model="classic") for i in range(3))
            )
            assert len({j.job_id for j in jobs}) == 3
            finished = await asyncio.gather(*(client.wait(j, timeout=120) for j in jobs))
            assert {j.status for j in finished} == {"Succeed"}

    asyncio.run(main())


def test_errors(server: ServerProcess) -> None:
    key = new_key(server)

    async def main() -> None:
        async with AsyncClient(server.base_url, key) as client:
            with pytest.raises(InvalidImage):
                await client.submit(b"garbage", scale="1K")
            with pytest.raises(UploadTooLarge):
                await client.submit(b"\0" * (MAX_UPLOAD_BYTES + 1), scale="1K")
            with pytest.raises(ValidationError):
                await client.submit(make_image(), scale="3K")
            with pytest.raises(JobNotFound):
                await client.get(str(uuid.uuid4()))
            await client.submit(make_image(seed=1), scale="1K", idempotency_key="a")
            with pytest.raises(IdempotencyKeyReused):
                await client.submit(make_image(seed=2), scale="1K", idempotency_key="a")
        async with AsyncClient(server.base_url, "wrong") as stranger:
            with pytest.raises(AuthenticationError):
                await stranger.models()

    asyncio.run(main())


def test_wait_timeout(server_factory: ServerFactory) -> None:
    server = server_factory(IMAGETUNE_WORKERS="0")

    async def main() -> None:
        async with AsyncClient(server.base_url, new_key(server)) as client:
            job = await client.submit(make_image(), scale="1K")
            with pytest.raises(WaitTimeout):
                await client.wait(job, timeout=1.0)

    asyncio.run(main())

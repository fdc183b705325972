"""Uploads are checked in isolated processes; their failures cost only those processes."""

from __future__ import annotations

import io
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from imagetune.api.inspection import Inspector
from imagetune.engine.decode import Checked
from imagetune.errors import InvalidImage
from tests.support import make_image


@pytest.fixture
def inspector() -> Inspector:
    inspector = Inspector(processes=1, memory_mb=0, timeout=30, max_pixels=50_000_000)
    inspector.warm()
    yield inspector
    inspector.close()


def test_checks_in_another_process(inspector: Inspector) -> None:
    assert inspector.check(make_image((64, 48), fmt="JPEG")) == Checked("JPEG", 64, 48)
    with pytest.raises(InvalidImage, match="not a supported image format"):
        inspector.check(b"garbage")
    [child] = inspector._all
    assert child.process.pid != os.getpid()


def test_a_crashed_decoder_costs_one_request(inspector: Inspector) -> None:
    [child] = inspector._all
    assert child.process.pid is not None
    os.kill(child.process.pid, signal.SIGKILL)  # what a segfaulting decoder looks like
    child.process.join()
    with pytest.raises(InvalidImage, match="the decoder failed"):
        inspector.check(make_image())
    assert inspector.check(make_image()).format == "PNG"  # replaced
    [replacement] = inspector._all
    assert replacement is not child


def test_concurrent_checks_share_the_processes(inspector: Inspector) -> None:
    # One process, four uploads at once: each waits its turn and gets its own answer.
    with ThreadPoolExecutor(4) as pool:
        formats = ["PNG", "JPEG", "WEBP", "GIF"]
        answers = [
            c.format for c in pool.map(lambda f: inspector.check(make_image(fmt=f)), formats)
        ]
    assert answers == formats
    assert len(inspector._all) == 1


def test_an_abandoned_answer_is_still_collected(inspector: Inspector) -> None:
    inspection = inspector.start(b"garbage")
    with pytest.raises(InvalidImage):
        inspection.result()
    with pytest.raises(InvalidImage):  # asked again: the same answer, nothing waits
        inspection.result()
    assert inspector.check(make_image()).format == "PNG"


@pytest.mark.slow
def test_decoding_over_the_memory_limit_is_400(service_factory, client_factory) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_INSPECTOR_MEMORY_MB="300")
    client = client_factory(server)
    # 40 megapixels (a small file: flat colour): under the pixel limit, over what 300 MB
    # of address space lets a process decode.
    buffer = io.BytesIO()
    Image.new("RGB", (8000, 5000), (90, 120, 200)).save(buffer, "PNG")
    response = client.submit(buffer.getvalue(), "1K")
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid image file: the decoder failed on this file"
    assert client.submit(make_image(), "1K").status_code == 200
    assert server.http.get("/readyz").status_code == 200


def test_decoding_over_the_time_limit_is_400(service_factory, client_factory) -> None:
    server = service_factory(IMAGETUNE_WORKERS="0", IMAGETUNE_INSPECTOR_TIMEOUT="0.01")
    client = client_factory(server)
    # 24 megapixels of flat colour: quick to make, far longer than 0.01 s to decode.
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 4000), (90, 120, 200)).save(buffer, "PNG", compress_level=1)
    response = client.submit(buffer.getvalue(), "1K")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid image file: decoding took longer")
    assert server.http.get("/readyz").status_code == 200

"""Uploads are checked in isolated processes; their failures cost only those processes."""

from __future__ import annotations

import io
import os
import signal

import pytest
from PIL import Image

from imagetune.api.inspection import Inspector
from imagetune.errors import InvalidImage
from tests.support import make_image


@pytest.fixture
def inspector() -> Inspector:
    inspector = Inspector(processes=1, memory_mb=0, timeout=30, max_pixels=50_000_000)
    inspector.warm()
    yield inspector
    inspector.close()


def test_checks_in_another_process(inspector: Inspector) -> None:
    assert inspector.check(make_image(fmt="JPEG")) == "JPEG"
    with pytest.raises(InvalidImage, match="not a supported image format"):
        inspector.check(b"garbage")
    [process] = inspector._pool._processes.values()  # type: ignore[attr-defined]
    assert process.pid != os.getpid()


def test_a_crashed_decoder_costs_one_request(inspector: Inspector) -> None:
    [process] = inspector._pool._processes.values()  # type: ignore[attr-defined]
    os.kill(process.pid, signal.SIGKILL)  # what a segfaulting decoder looks like
    process.join()
    with pytest.raises(InvalidImage, match="the decoder failed"):
        inspector.check(make_image())
    assert inspector.check(make_image()) == "PNG"  # replaced


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

"""``imagetune upscale --server URL``: the same command, run by a real server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.api.test_hostile import heic
from tests.client.conftest import new_key
from tests.support import ServerProcess, make_image, run_imagetune


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("remote") / "data", env={"IMAGETUNE_WORKERS": "1"}
    )
    process.start()
    yield process
    process.stop()
    process.assert_no_server_errors()


def imagetune(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if k not in {"IMAGETUNE_API_KEY", "IMAGETUNE_BASE_URL"}
    }
    return run_imagetune(["upscale", *args], {**base, "COLUMNS": "200", **env})


def test_one_file(server: ServerProcess, tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(make_image((60, 40)))
    result = imagetune(
        str(source),
        "--server",
        server.base_url,
        "--api-key",
        new_key(server),
        "--scale",
        "1K",
        "--model",
        "classic",
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "photo-1K.png") as out:
        assert out.size == (1024, 683)
    assert "100%" in result.stderr  # the progress bar
    assert "1 upscaled, 0 failed" in result.stderr


def test_a_directory_from_the_environment(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(make_image((30, 20)))
    (tmp_path / "b.jpeg").write_bytes(make_image((20, 30), fmt="JPEG"))
    (tmp_path / "c.webp").write_bytes(make_image((20, 20), fmt="WEBP"))
    (tmp_path / "d.heif").write_bytes(heic("rgb10"))
    (tmp_path / "notes.txt").write_text("not an image, not even looked at")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = imagetune(
        str(tmp_path),
        "--scale",
        "1K",
        "--model",
        "classic",
        "--format",
        "jpeg",
        "--jobs",
        "2",
        IMAGETUNE_BASE_URL=server.base_url,
        IMAGETUNE_API_KEY=new_key(server),
    )
    assert result.returncode == 1  # one image failed
    assert "broken.png: Invalid image file" in result.stderr
    assert "4 upscaled, 1 failed" in result.stderr
    outputs = sorted(p.name for p in (tmp_path / "upscaled").iterdir())
    assert outputs == ["a-1K.jpg", "b-1K.jpg", "c-1K.jpg", "d-1K.jpg"]
    with Image.open(tmp_path / "upscaled" / "b-1K.jpg") as out:
        assert (out.format, out.size) == ("JPEG", (683, 1024))


def test_a_refused_key_fails_at_once_with_the_servers_detail(
    server: ServerProcess, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(make_image())
    result = imagetune(str(tmp_path / "a.png"), "--server", server.base_url, "--api-key", "nope")
    assert result.returncode == 1
    assert "Invalid API key" in result.stderr
    assert not (tmp_path / "a-2K.png").exists()

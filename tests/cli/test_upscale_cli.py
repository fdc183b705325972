"""``imagetune upscale``: the engine on local files, as a user runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from PIL import Image

from tests.api.test_hostile import heic
from tests.support import make_image, run_imagetune


def imagetune(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", "IMAGETUNE_ENGINE_THREADS": "1"}
    return run_imagetune(["upscale", *args], env)


def test_one_file_default_output(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(make_image((60, 40)))
    result = imagetune(str(source), "--scale", "1K")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "photo-1K.png") as out:
        assert out.size == (1024, 683)
    assert "tiles" in result.stderr  # the progress bar


def test_one_file_explicit_output_and_format(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(make_image((40, 60), fmt="JPEG"))
    target = tmp_path / "out" / "big.webp"
    target.parent.mkdir()
    result = imagetune(
        str(source), "--scale", "2K", "--model", "anime", "--format", "webp", "-o", str(target)
    )
    assert result.returncode == 0, result.stderr
    with Image.open(target) as out:
        assert (out.format, out.size) == ("WEBP", (1365, 2048))


def test_directory_of_images(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(make_image((30, 20)))
    (tmp_path / "b.jpeg").write_bytes(make_image((20, 30), fmt="JPEG"))
    (tmp_path / "c.HEIC").write_bytes(heic("rgb8"))  # a phone photo, its suffix in capitals
    (tmp_path / "notes.txt").write_text("not an image, not even looked at")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = imagetune(str(tmp_path), "--scale", "1K", "--model", "classic")
    assert result.returncode == 1  # one image failed
    assert "broken.png: Invalid image file" in result.stderr
    outputs = sorted(p.name for p in (tmp_path / "upscaled").iterdir())
    assert outputs == ["a-1K.png", "b-1K.png", "c-1K.png"]
    with Image.open(tmp_path / "upscaled" / "b-1K.png") as out:
        assert out.size == (683, 1024)


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    source.write_bytes(make_image())
    result = imagetune(str(source), "--model", "magic")
    assert result.returncode == 2
    assert "magic" in result.stderr

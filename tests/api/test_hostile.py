"""A hostile-input corpus built here: each case gets its documented 4xx (or is accepted
when it is a real image), and the server stays healthy throughout."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support import ServerProcess, accounts_for, make_image

UPLOAD_LIMIT = 4 * 1024 * 1024


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    patch = struct.pack(fmt, *values)
    return data[:offset] + patch + data[offset + len(patch) :]


def jpeg_declaring(width: int, height: int) -> bytes:
    data = make_image((16, 16), fmt="JPEG")
    sof = data.index(b"\xff\xc0")
    return patched(data, sof + 5, ">HH", height, width)


def gif_declaring(width: int, height: int) -> bytes:
    return patched(make_image((16, 16), fmt="GIF"), 6, "<HH", width, height)


def bmp_declaring(width: int, height: int) -> bytes:
    return patched(make_image((16, 16), fmt="BMP"), 18, "<ii", width, height)


def webp_declaring(width: int, height: int) -> bytes:
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + chunk_le(b"VP8X", vp8x) + chunk_le(b"VP8 ", b"\x00" * 16)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk_le(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def real_bomb(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    params = {"compression": "tiff_deflate"} if fmt == "TIFF" else {}
    Image.new("L" if fmt != "GIF" else "P", size).save(buffer, fmt, **params)
    return buffer.getvalue()


def png_text_bomb() -> bytes:
    text = b"comment\x00\x00" + zlib.compress(b"A" * (64 * 1024 * 1024), 9)
    good = make_image((16, 16))
    return good[:33] + chunk(b"zTXt", text) + good[33:]


def with_icc(icc: bytes) -> bytes:
    return make_image((16, 16), icc_profile=icc)


def with_exif(exif: bytes) -> bytes:
    return make_image((16, 16), fmt="JPEG", exif=exif)


def animation(frames: int) -> bytes:
    """An 8x8 GIF of ``frames`` frames, black then white ones: Pillow's second frame
    repeated (Pillow itself would take seconds to write thousands)."""
    images = [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 255)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=10, loop=0)
    data = buffer.getvalue()
    second = data.rindex(b"\x21\xf9")  # the second frame's graphic control extension
    return data[:second] + data[second:-1] * (frames - 1) + b";"


def apng_declaring(width: int, height: int) -> bytes:
    """A two-frame APNG whose header claims a ``width`` x ``height`` canvas."""
    images = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    buffer = io.BytesIO()
    images[0].save(buffer, "PNG", save_all=True, append_images=images[1:])
    data = buffer.getvalue()
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + chunk(b"IHDR", ihdr) + data[33:]


HEIC = Path(__file__).parents[1] / "fixtures" / "heic"


def heic(name: str) -> bytes:
    return (HEIC / f"{name}.heic").read_bytes()


def heic_declaring(width: int, height: int) -> bytes:
    """The 64x48 HEIC with every image spatial extent (ispe) claiming width x height."""
    data = heic("rgb8")
    at = data.find(b"ispe")
    while at != -1:
        data = patched(data, at + 8, ">II", width, height)  # after the full-box header
        at = data.find(b"ispe", at + 1)
    return data


def palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def sixteen_bit() -> bytes:
    buffer = io.BytesIO()
    Image.new("I;16", (16, 16), 40000).save(buffer, "PNG")
    return buffer.getvalue()


# (case id, file bytes, filename, expected status)
IMAGE_CASES: list[tuple[str, Callable[[], bytes], str, int]] = [
    ("zero-bytes", lambda: b"", "a.png", 400),
    ("truncated-png", lambda: make_image(fmt="PNG")[:120], "a.png", 400),
    ("truncated-jpeg", lambda: make_image(fmt="JPEG")[:300], "a.jpg", 400),
    ("truncated-webp", lambda: make_image(fmt="WEBP")[:60], "a.webp", 400),
    ("truncated-gif", lambda: make_image(fmt="GIF")[:40], "a.gif", 400),
    ("truncated-tiff", lambda: make_image(fmt="TIFF")[:200], "a.tif", 400),
    ("png-named-jpg", lambda: make_image(fmt="PNG"), "a.jpg", 200),
    ("jpeg-named-png", lambda: make_image(fmt="JPEG"), "a.png", 200),
    ("no-extension", lambda: make_image(fmt="WEBP"), "upload", 200),
    ("text", lambda: b"just some words\n" * 10, "a.png", 400),
    ("html", lambda: b"<!doctype html><script>alert(1)</script>", "a.png", 400),
    (
        "svg",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
        "a.svg",
        400,
    ),
    ("pdf", lambda: b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "a.png", 400),
    ("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\nshowpage\n", "a.eps", 400),
    ("zip", lambda: b"PK\x03\x04" + b"\x00" * 26 + b"PK\x05\x06" + b"\x00" * 18, "a.png", 400),
    ("gif-js-polyglot", lambda: b"GIF89a/*\x00\x00*/=alert(1)//;", "a.gif", 400),
    ("png-with-zip-appended", lambda: make_image() + b"PK\x03\x04" + b"\x00" * 100, "a.png", 200),
    ("ico-not-allowed", lambda: make_image((16, 16), fmt="ICO"), "a.ico", 400),
    ("tga-not-allowed", lambda: make_image((16, 16), fmt="TGA"), "a.tga", 400),
    (
        "xbm-not-allowed",
        lambda: b"#define a_width 8\n#define a_height 8\nstatic char a_bits[] = {0};\n",
        "a.xbm",
        400,
    ),
    ("one-by-one", lambda: make_image((1, 1)), "a.png", 200),
    ("png-65535-sides", lambda: png_declaring(65535, 65535), "a.png", 400),
    ("jpeg-65535-sides", lambda: jpeg_declaring(65535, 65535), "a.jpg", 400),
    ("gif-65535-sides", lambda: gif_declaring(65535, 65535), "a.gif", 400),
    ("bmp-65535-sides", lambda: bmp_declaring(65535, 65535), "a.bmp", 400),
    ("webp-16383-sides", lambda: webp_declaring(16383, 16383), "a.webp", 400),
    ("png-pixel-bomb", lambda: real_bomb("PNG", (10000, 8000)), "a.png", 400),
    ("gif-pixel-bomb", lambda: real_bomb("GIF", (10000, 8000)), "a.gif", 400),
    ("tiff-pixel-bomb", lambda: real_bomb("TIFF", (8000, 8000)), "a.tif", 400),
    ("png-text-chunk-bomb", png_text_bomb, "a.png", 400),
    ("sixteen-bit", sixteen_bit, "a.png", 200),
    ("cmyk-jpeg", lambda: make_image((16, 16), mode="CMYK", fmt="JPEG"), "a.jpg", 200),
    ("palette-transparency", palette_with_transparency, "a.png", 200),
    ("broken-icc", lambda: with_icc(b"\x00\x00\x00\x10garbage-profile"), "a.png", 200),
    ("broken-exif", lambda: with_exif(b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"), "a.jpg", 200),
    ("gif-10000-frames", lambda: animation(10000), "a.gif", 400),
    ("gif-600-frames-at-1K", lambda: animation(600), "a.gif", 413),  # 629 Mpx of results
    ("gif-12-frames", lambda: animation(12), "a.gif", 200),
    ("gif-frames-bomb", lambda: patched(animation(4), 6, "<HH", 4000, 4000), "a.gif", 400),
    ("apng-huge-canvas", lambda: apng_declaring(20000, 20000), "a.png", 400),
    ("apng-frames-bomb", lambda: apng_declaring(6000, 6000), "a.png", 400),  # 2 x 36 Mpx
    ("heic-8-bit", lambda: heic("rgb8"), "a.heic", 200),
    ("heic-rotated", lambda: heic("rotated"), "a.heic", 200),
    ("heic-10-bit", lambda: heic("rgb10"), "a.heic", 200),
    ("heic-several-images", lambda: heic("multi"), "a.heic", 200),
    ("heic-truncated", lambda: heic("rgb8")[:400], "a.heic", 400),
    ("heic-garbage-after-header", lambda: heic("rgb8")[:40] + b"\xff" * 400, "a.heic", 400),
    ("heic-pixel-bomb", lambda: heic_declaring(30000, 30000), "a.heic", 400),
]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("hostile") / "data",
        env={
            "IMAGETUNE_WORKERS": "1",
            "IMAGETUNE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
            "IMAGETUNE_ENGINE_THREADS": "1",
        },
    )
    server.start()
    yield server
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    server.stop()
    server.assert_no_server_errors()


@pytest.fixture(scope="module")
def key(hostile_server: ServerProcess) -> str:
    accounts = accounts_for(hostile_server.data_dir)
    accounts.create_user("attacker")
    return accounts.create_key("attacker").key


def post(server: ServerProcess, key: str, **kwargs: object) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/public/v1/image-tune/upscale",
        headers={"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})},  # type: ignore[dict-item]
        timeout=60,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("build", "filename", "expected"),
    [pytest.param(build, name, status, id=case) for case, build, name, status in IMAGE_CASES],
)
def test_image_corpus(
    hostile_server: ServerProcess,
    key: str,
    build: Callable[[], bytes],
    filename: str,
    expected: int,
) -> None:
    response = post(
        hostile_server,
        key,
        files={"image": (filename, build(), "application/octet-stream")},
        data={"scale": "1K", "model": "classic"},
    )
    assert response.status_code == expected, response.text
    if expected == 400:
        assert response.json()["detail"].startswith("Invalid image file")
    elif expected == 413:
        assert "megapixels; the limit is" in response.json()["detail"]
    else:
        job_id = response.json()["job_id"]
        job = httpx.get(
            f"{hostile_server.base_url}/public/v1/job/{job_id}",
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        assert job["status"] in ("Pending", "Succeed")


def test_oversize_upload_with_length_is_413(hostile_server: ServerProcess, key: str) -> None:
    body = b"\x00" * (UPLOAD_LIMIT + 1)
    response = post(
        hostile_server, key, files={"image": ("a.png", body, "image/png")}, data={"scale": "1K"}
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Upload too large")


def test_oversize_chunked_upload_is_413(hostile_server: ServerProcess, key: str) -> None:
    def stream() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\n'
        for _ in range(UPLOAD_LIMIT // 65536 + 2):
            yield b"\x00" * 65536

    response = post(
        hostile_server,
        key,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        content=stream(),
    )
    assert response.status_code == 413


def test_oversize_upload_with_a_bad_key_is_401(hostile_server: ServerProcess) -> None:
    body = b"\x00" * (UPLOAD_LIMIT + 1)
    response = post(hostile_server, "itk_wrong-key-wrong-key", files={"image": ("a", body)})
    assert response.status_code == 401


MULTIPART_CASES = [
    ("thousands-of-fields", {"data": {f"f{i}": "x" for i in range(3000)} | {"scale": "1K"}}, 400),
    ("huge-text-field", {"data": {"scale": "1K", "note": "x" * 200_000}}, 400),
    ("missing-boundary", {"content": b"--x\r\n\r\n", "ctype": "multipart/form-data"}, 400),
    (
        "broken-boundary",
        {"content": b"--other\r\nnonsense\r\n", "ctype": "multipart/form-data; boundary=x"},
        400,
    ),
    (
        "garbage-multipart",
        {"content": b"\x00\xff" * 500, "ctype": "multipart/form-data; boundary=b"},
        400,
    ),
    ("text-plain-body", {"content": b"image=1&scale=1K", "ctype": "text/plain"}, 422),
    ("urlencoded-form", {"data": {"image": "x", "scale": "1K"}}, 422),
    ("json-body", {"content": b'{"scale": "1K"}', "ctype": "application/json"}, 422),
]


@pytest.mark.parametrize(
    ("request_args", "expected"),
    [pytest.param(args, status, id=case) for case, args, status in MULTIPART_CASES],
)
def test_multipart_abuse(
    hostile_server: ServerProcess, key: str, request_args: dict[str, object], expected: int
) -> None:
    args = dict(request_args)
    if "ctype" in args:
        args["headers"] = {"Content-Type": args.pop("ctype")}
    if "data" in args and "files" not in args and expected == 400:
        args["files"] = {"image": ("a.png", make_image(), "image/png")}
    response = post(hostile_server, key, **args)
    assert response.status_code == expected, response.text
    assert "detail" in response.json()


def test_duplicate_image_fields_are_refused(hostile_server: ServerProcess, key: str) -> None:
    files = [
        ("image", ("a.png", make_image(), "image/png")),
        ("image", ("b.png", make_image(), "image/png")),
    ]
    response = post(hostile_server, key, files=files, data={"scale": "1K"})
    assert response.status_code == 400
    assert "detail" in response.json()


def test_server_is_healthy_after_the_corpus(hostile_server: ServerProcess, key: str) -> None:
    assert httpx.get(f"{hostile_server.base_url}/readyz").json()["status"] == "ready"
    response = post(
        hostile_server,
        key,
        files={"image": ("a.png", make_image(), "image/png")},
        data={"scale": "1K", "model": "classic"},
    )
    assert response.status_code == 200


def test_oversize_headers_are_431(hostile_server: ServerProcess, key: str) -> None:
    big = post(hostile_server, key, headers={"X-Padding": "a" * 20_000}, data={"scale": "1K"})
    many = post(
        hostile_server, key, headers={f"X-{i}": "a" for i in range(200)}, data={"scale": "1K"}
    )
    for response in (big, many):
        assert response.status_code == 431
        assert response.json() == {"detail": "Request header fields too large"}

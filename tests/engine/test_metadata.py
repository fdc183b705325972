"""``metadata=keep``: the original's EXIF, XMP and IPTC reach every output format, made
true of the new pixels; ``strip`` drops them. Real files through the real engine."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, IptcImagePlugin

from imagetune.engine.base import Device, OutputFormat, ProcessRequest
from imagetune.engine.metadata import MetadataMode
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler
from tests.engine.conftest import encoded, photo
from tests.support import open_image

CAPTION = b"Sunrise over the harbour"
RECORD = b"\x1c\x02\x78" + struct.pack(">H", len(CAPTION)) + CAPTION
"""IPTC-IIM dataset 2:120 (caption)."""
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="6" '
    b'exif:PixelXDimension="60" exif:PixelYDimension="40">'
    b"<dc:creator>Ansel</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def engine() -> Upscaler:
    return Upscaler(EngineConfig(threads=2, device=Device.CPU))


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003] = "2024:05:01 06:12:00"  # DateTimeOriginal
    exif_ifd[0xA002] = 60  # PixelXDimension
    exif_ifd[0xA003] = 40
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (59.0, 54.0, 36.0)
    gps[3], gps[4] = "E", (10.0, 44.0, 24.0)
    return exif


def with_iptc(jpeg: bytes) -> bytes:
    """A Photoshop APP13 segment holding IPTC 2:120 (caption), built by hand after SOI."""
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(RECORD)) + RECORD
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def camera_jpeg() -> bytes:
    data = encoded(photo((60, 40)), "JPEG", quality=95, exif=camera_exif(), xmp=XMP)
    return with_iptc(data)


def iptc_of(image: Image.Image, data: bytes) -> bytes | None:
    if image.format == "PNG":  # ImageMagick's "Raw profile type iptc", decoded here
        text = image.info.get("Raw profile type iptc")
        if text is None:
            return None
        _, length, hexed = text.split(None, 2)
        raw = bytes.fromhex("".join(hexed.split()))
        assert len(raw) == int(length)
        assert raw[:3] == b"\x1c\x02\x78"
        return raw[5 : 5 + struct.unpack(">H", raw[3:5])[0]]
    info = IptcImagePlugin.getiptcinfo(image)
    return info.get((2, 120)) if info else None


def png_chunk_types(data: bytes) -> list[bytes]:
    types, position = [], 8
    while position < len(data):
        length = struct.unpack(">I", data[position : position + 4])[0]
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        crc = struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        types.append(kind)
        position += 12 + length
    return types


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_keep_carries_metadata_made_true_of_the_result(engine: Upscaler, fmt: str) -> None:
    result = engine.process(
        camera_jpeg(),
        ProcessRequest(1024, output_format=OutputFormat(fmt), metadata=MetadataMode.KEEP),
    )
    image = open_image(result.data)
    assert image.size == (683, 1024)  # upright: the orientation was applied to the pixels
    exif = image.getexif()
    assert exif[0x0112] == 1
    assert (exif[0x010F], exif[0x0110]) == ("Canon", "EOS R5")
    exif_ifd = exif.get_ifd(0x8769)
    assert exif_ifd[0x9003] == "2024:05:01 06:12:00"
    assert (exif_ifd[0xA002], exif_ifd[0xA003]) == (683, 1024)
    gps = exif.get_ifd(0x8825)
    assert gps[1] == "N"
    assert [float(v) for v in gps[2]] == [59.0, 54.0, 36.0]
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    xmp_text = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert 'tiff:Orientation="1"' in xmp_text
    assert 'exif:PixelXDimension="683"' in xmp_text
    assert "<dc:creator>Ansel</dc:creator>" in xmp_text
    if fmt == "webp":  # WebP has no IPTC container
        assert iptc_of(image, result.data) is None
    else:
        assert iptc_of(image, result.data) == CAPTION
    if fmt == "png":
        types = png_chunk_types(result.data)
        assert types.index(b"eXIf") < types.index(b"IDAT")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_strip_keeps_only_the_icc_profile(engine: Upscaler, fmt: str) -> None:
    data = with_iptc(
        encoded(photo((60, 40)), "JPEG", exif=camera_exif(), xmp=XMP, icc_profile=SRGB)
    )
    for request in (
        ProcessRequest(1024, output_format=OutputFormat(fmt)),
        ProcessRequest(1024, ModelName.PHOTO, OutputFormat(fmt)),
    ):
        image = open_image(engine.process(data, request).data)
        assert image.size == (683, 1024)
        # Nothing but the print density (not camera data: written always; WebP's only
        # place for it is EXIF).
        assert set(image.getexif()) <= {0x011A, 0x011B, 0x0128}
        assert not image.info.get("xmp")
        assert not image.info.get("XML:com.adobe.xmp")
        assert iptc_of(image, b"") is None
        assert image.info.get("icc_profile") == SRGB


def test_keep_on_a_sixteen_bit_png(engine: Upscaler) -> None:
    rng = np.random.default_rng(1)
    ok, png = cv2.imencode(".png", (rng.random((24, 32, 3)) * 65535).astype(np.uint16))
    assert ok
    exif = camera_exif()
    exif[0x0112] = 1
    # eXIf added by hand to the OpenCV file, which writes none.
    body = exif.tobytes()[6:]
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + body) & 0xFFFFFFFF)
    source = png.tobytes()[:33] + chunk + png.tobytes()[33:]
    result = engine.process(
        source, ProcessRequest(1024, ModelName.CLASSIC, metadata=MetadataMode.KEEP)
    )
    assert result.data[24] == 16
    image = open_image(result.data)
    assert image.getexif()[0x010F] == "Canon"
    assert image.getexif().get_ifd(0x8769)[0xA002] == 1024


def test_keep_from_a_tiff_takes_its_descriptive_tags_only(engine: Upscaler) -> None:
    tiff = encoded(photo((40, 30)), "TIFF", exif=camera_exif())
    result = engine.process(
        tiff, ProcessRequest(1024, ModelName.CLASSIC, metadata=MetadataMode.KEEP)
    )
    image = open_image(result.data)
    assert image.size == (768, 1024)  # orientation 6, applied
    exif = image.getexif()
    assert (exif[0x010F], exif[0x0110], exif.get(0x0112, 1)) == ("Canon", "EOS R5", 1)
    assert 0x0111 not in exif  # the TIFF's StripOffsets describe its file, not this one


def test_keep_drops_exif_that_does_not_parse(engine: Upscaler) -> None:
    data = encoded(photo((40, 30)), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\xff\xff garbage")
    result = engine.process(
        data, ProcessRequest(1024, ModelName.CLASSIC, OutputFormat.PNG, metadata=MetadataMode.KEEP)
    )
    image = open_image(result.data)
    assert image.size == (1024, 768)
    assert not image.getexif()


def test_keep_without_metadata_writes_nothing_extra(engine: Upscaler) -> None:
    data = encoded(photo((40, 30)))
    kept = engine.process(data, ProcessRequest(1024, ModelName.CLASSIC, metadata=MetadataMode.KEEP))
    stripped = engine.process(data, ProcessRequest(1024, ModelName.CLASSIC))
    assert kept.data == stripped.data


def test_jpeg_iptc_segment_stays_among_the_app_segments(engine: Upscaler) -> None:
    result = engine.process(
        camera_jpeg(),
        ProcessRequest(1024, ModelName.CLASSIC, OutputFormat.JPEG, metadata=MetadataMode.KEEP),
    )
    markers, position = [], 2
    data = result.data
    while data[position + 1] != 0xDA:  # up to the start of scan
        markers.append(data[position + 1])
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    assert 0xED in markers
    assert markers[0] == 0xE0  # JFIF stays first
    assert io.BytesIO(data).getbuffer().nbytes == len(data)

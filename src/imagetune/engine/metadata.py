"""Carrying the original's metadata (EXIF, XMP, IPTC) to the result on request.

``strip`` (the default) writes none of it: the ICC profile is kept and the EXIF
orientation applied, as always. ``keep`` carries everything the original had except what
the new pixels make wrong: the orientation becomes 1 (the pixels are already upright),
the pixel dimensions become the result's, and the EXIF thumbnail (a small copy of the
old, unrotated pixels) is dropped. Location data stays: that is the point of ``keep``.

Where each part goes: JPEG and WebP hold EXIF and XMP natively (Pillow writes them);
JPEG holds IPTC in its Photoshop APP13 segment. PNG gets ``eXIf`` and an ``iTXt``
``XML:com.adobe.xmp`` chunk, and IPTC as the ``Raw profile type iptc`` text chunk that
ExifTool and ImageMagick read and write. WebP has no place for IPTC (its XMP usually
carries the same IPTC Core fields).

Print density is apart from all that: it is not camera data, so it is written whatever the
mode, in the form each format holds (JFIF density, PNG ``pHYs``, EXIF resolution for WebP
and AVIF, where a small EXIF holding only it is written under ``strip``). The number stays
the original's: the result has more pixels, so it prints larger at that density.
"""

from __future__ import annotations

import binascii
import logging
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction

from PIL import Image, TiffImagePlugin

log = logging.getLogger(__name__)


class MetadataMode(StrEnum):
    STRIP = "strip"
    """Only the ICC profile; orientation applied, everything else (GPS included) dropped."""
    KEEP = "keep"
    """EXIF (orientation reset, dimensions updated), XMP and IPTC carried as well."""


DEFAULT_METADATA = MetadataMode.STRIP

ORIENTATION = 0x0112
IMAGE_WIDTH, IMAGE_LENGTH = 0x0100, 0x0101
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
PIXEL_X, PIXEL_Y = 0xA002, 0xA003
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
INCH, CENTIMETRE = 2, 3
DENSITY_RANGE = (1.0, 100_000.0)
"""Densities outside this (in dpi) are junk in the file, not a print size: dropped."""
XMP_TAG, IPTC_TAG = 700, 33723
PHOTOSHOP_IPTC = 0x0404

DESCRIPTIVE_TIFF_TAGS = (0x010E, 0x010F, 0x0110, ORIENTATION, 0x0131, 0x0132, 0x013B, 0x8298)
"""From a TIFF original's first directory only these describe the picture (description,
make, model, software, date, artist, copyright); the rest describes its strips."""

PNG_XMP_KEY = "XML:com.adobe.xmp"
PNG_IPTC_KEY = "Raw profile type iptc"


@dataclass(frozen=True)
class SourceMetadata:
    exif: bytes | None = None
    """TIFF-structured EXIF, ``Exif\\0\\0`` prefix included (as Pillow writes it)."""
    xmp: bytes | None = None
    iptc: bytes | None = None
    """IPTC-IIM records."""

    def __bool__(self) -> bool:
        return bool(self.exif or self.xmp or self.iptc)


def read_metadata(image: Image.Image) -> SourceMetadata:
    """What ``image`` (as opened, before any orientation is applied) carries; a part that
    does not parse is dropped, like a broken ICC profile."""
    return SourceMetadata(exif=_read_exif(image), xmp=_read_xmp(image), iptc=_read_iptc(image))


def read_density(image: Image.Image) -> tuple[float, float] | None:
    """The original's print density in dots per inch, from wherever its format keeps it:
    JFIF, pHYs or TIFF resolution (Pillow's ``dpi``), else EXIF resolution (WebP, HEIF)."""
    dpi = image.info.get("dpi")
    if dpi is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                exif = image.getexif()
                unit = exif.get(RESOLUTION_UNIT, INCH)
                x, y = exif.get(X_RESOLUTION), exif.get(Y_RESOLUTION)
            except Exception:  # a corrupt EXIF says nothing about density
                return None
        if unit not in (INCH, CENTIMETRE) or x is None or y is None:
            return None
        per_inch = 2.54 if unit == CENTIMETRE else 1.0
        dpi = (float(x) * per_inch, float(y) * per_inch)
    try:
        x_dpi, y_dpi = (float(value) for value in dpi)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    low, high = DENSITY_RANGE
    if not (low <= x_dpi <= high and low <= y_dpi <= high):
        return None
    # To a tenth: pHYs counts pixels per metre, so 300 dpi reads back as 299.9994.
    return round(x_dpi, 1), round(y_dpi, 1)


def with_density(exif: bytes | None, dpi: tuple[float, float]) -> bytes:
    """``exif`` (or a new, otherwise empty EXIF) with its resolution set to ``dpi``."""
    data = Image.Exif()
    if exif:
        data.load(exif)
    data[X_RESOLUTION], data[Y_RESOLUTION] = (_rational(value) for value in dpi)
    data[RESOLUTION_UNIT] = INCH
    return data.tobytes()


def add_density_to_png(png: bytes, dpi: tuple[float, float]) -> bytes:
    """``png`` with a ``pHYs`` chunk (pixels per metre) after IHDR."""
    per_metre = [round(value / 0.0254) for value in dpi]
    chunk = _png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1))
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def _rational(value: float) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(Fraction(value).limit_denominator(1000))


def for_result(metadata: SourceMetadata, width: int, height: int) -> SourceMetadata:
    """``metadata`` made true of an upright ``width`` x ``height`` result."""
    exif = _updated_exif(metadata.exif, width, height) if metadata.exif else None
    xmp = _updated_xmp(metadata.xmp, width, height) if metadata.xmp else None
    return replace(metadata, exif=exif, xmp=xmp)


def pillow_params(metadata: SourceMetadata) -> dict[str, object]:
    """Save parameters for Pillow's JPEG and WebP writers."""
    params: dict[str, object] = {}
    if metadata.exif:
        params["exif"] = metadata.exif
    if metadata.xmp:
        params["xmp"] = metadata.xmp
    return params


def add_to_png(png: bytes, metadata: SourceMetadata) -> bytes:
    """``png`` with eXIf, iTXt (XMP) and zTXt (IPTC) chunks after IHDR, before the pixels."""
    chunks = []
    if metadata.exif:
        chunks.append(_png_chunk(b"eXIf", metadata.exif.removeprefix(b"Exif\x00\x00")))
    if metadata.xmp:
        # Uncompressed, no language: what XMP's specification asks of PNG.
        body = PNG_XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + metadata.xmp
        chunks.append(_png_chunk(b"iTXt", body))
    if metadata.iptc:
        body = PNG_IPTC_KEY.encode() + b"\x00\x00" + zlib.compress(_raw_profile(metadata.iptc))
        chunks.append(_png_chunk(b"zTXt", body))
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + b"".join(chunks) + png[end_of_ihdr:]


def add_iptc_to_jpeg(jpeg: bytes, iptc: bytes) -> bytes:
    """``jpeg`` with a Photoshop APP13 segment holding ``iptc``, after its APPn segments."""
    name = b"\x00\x00"  # empty Pascal string, padded to even length
    data = iptc + (b"\x00" if len(iptc) % 2 else b"")
    resource = b"8BIM" + struct.pack(">H", PHOTOSHOP_IPTC) + name + struct.pack(">I", len(iptc))
    payload = b"Photoshop 3.0\x00" + resource + data
    if len(payload) + 2 > 0xFFFF:
        log.info("IPTC block of %d bytes does not fit one JPEG segment; dropped", len(iptc))
        return jpeg
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    position = 2
    while jpeg[position] == 0xFF and 0xE0 <= jpeg[position + 1] <= 0xEF:
        position += 2 + struct.unpack(">H", jpeg[position + 2 : position + 4])[0]
    return jpeg[:position] + segment + jpeg[position:]


def _read_exif(image: Image.Image) -> bytes | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": dropped below
        try:
            return _parse_exif(image)
        except Exception as e:  # Pillow raises many kinds on a corrupt directory
            log.info("dropping EXIF that does not parse (%s)", e)
            return None


def _parse_exif(image: Image.Image) -> bytes | None:
    if image.format == "TIFF":
        source = image.getexif()
        exif = Image.Exif()
        for tag in DESCRIPTIVE_TIFF_TAGS:
            if tag in source:
                exif[tag] = source[tag]
        for pointer in (EXIF_IFD, GPS_IFD):
            if sub := source.get_ifd(pointer):
                exif[pointer] = dict(sub)
        return exif.tobytes() if len(exif) else None
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or not raw:
        return None
    exif = Image.Exif()
    exif.load(raw)
    exif.tobytes()  # parses every directory: broken EXIF is dropped here, not later
    return raw if raw.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + raw


def _read_xmp(image: Image.Image) -> bytes | None:
    value = image.info.get("xmp") or image.info.get(PNG_XMP_KEY)
    if value is None and image.format == "TIFF":
        value = getattr(image, "tag_v2", {}).get(XMP_TAG)
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, tuple):  # a TIFF BYTE array
        value = bytes(value)
    return value if isinstance(value, bytes) and value else None


def _read_iptc(image: Image.Image) -> bytes | None:
    value: object = None
    photoshop = image.info.get("photoshop")
    if isinstance(photoshop, dict):
        value = photoshop.get(PHOTOSHOP_IPTC)
    elif image.format == "TIFF":
        value = getattr(image, "tag_v2", {}).get(IPTC_TAG)
        if isinstance(value, tuple):  # stored as LONGs or BYTEs
            size = 4 if any(v > 255 for v in value) else 1
            value = b"".join(int(v).to_bytes(size, "big") for v in value)
    elif isinstance(text := image.info.get(PNG_IPTC_KEY), str):
        value = _parse_raw_profile(text)
    return value if isinstance(value, bytes) and value else None


def _updated_exif(raw: bytes, width: int, height: int) -> bytes | None:
    exif = Image.Exif()
    exif.load(raw)
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    for tag, value in ((IMAGE_WIDTH, width), (IMAGE_LENGTH, height)):
        if tag in exif:
            exif[tag] = value
    if EXIF_IFD in exif:  # get_ifd would add an empty one
        sub = exif.get_ifd(EXIF_IFD)
        for tag, value in ((PIXEL_X, width), (PIXEL_Y, height)):
            if tag in sub:
                sub[tag] = value
    return exif.tobytes()


def _updated_xmp(xmp: bytes, width: int, height: int) -> bytes:
    text = xmp.decode("utf-8", errors="surrogateescape")
    for name, value in (
        ("tiff:Orientation", 1),
        ("tiff:ImageWidth", width),
        ("tiff:ImageLength", height),
        ("exif:PixelXDimension", width),
        ("exif:PixelYDimension", height),
    ):
        text = re.sub(rf"({name}\s*=\s*[\"'])\s*\d+\s*([\"'])", rf"\g<1>{value}\g<2>", text)
        text = re.sub(rf"(<{name}>)\s*\d+\s*(</{name}>)", rf"\g<1>{value}\g<2>", text)
    return text.encode("utf-8", errors="surrogateescape")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _raw_profile(data: bytes) -> bytes:
    """ImageMagick's text form of a binary profile: name, length, hex in lines of 72."""
    hexed = binascii.hexlify(data).decode()
    lines = "\n".join(hexed[i : i + 72] for i in range(0, len(hexed), 72))
    return f"\niptc\n{len(data):8d}\n{lines}\n".encode()


def _parse_raw_profile(text: str) -> bytes | None:
    parts = text.strip().split(None, 2)
    if len(parts) != 3:
        return None
    try:
        data = binascii.unhexlify(re.sub(r"\s", "", parts[2]))
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == int(parts[1]) else None

"""Bounded walkers for PNG, JPEG, WebP and TIFF containers: metadata blocks only, never pixels.

Every read is capped: at most ``MAX_METADATA_BYTES`` of metadata payload per file, at most
``MAX_BLOCKS`` chunks or segments visited, and compressed text is inflated to at most
``MAX_TEXT_BYTES``. Pixel data (PNG IDAT, JPEG scans, WebP bitstreams) is skipped with seeks.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAX_METADATA_BYTES = 8 * 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024
MAX_BLOCKS = 20_000

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
XMP_JPEG_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_PREFIX = b"http://ns.adobe.com/xmp/extension/\x00"
_PNG_META = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX"}


@dataclass
class Container:
    """Raw metadata blocks found in one file."""

    format: str = "unknown"
    width: int | None = None
    height: int | None = None
    text: list[tuple[str, str, str]] = field(default_factory=list)  # (key, value, chunk type)
    comments: list[str] = field(default_factory=list)
    exif: list[bytes] = field(default_factory=list)
    xmp: list[str] = field(default_factory=list)
    iptc: list[bytes] = field(default_factory=list)
    c2pa: list[str] = field(default_factory=list)  # where a C2PA/JUMBF store was seen
    warnings: list[str] = field(default_factory=list)
    bytes_read: int = 0


class _Budget:
    """Reads from a file while counting metadata bytes against a cap."""

    def __init__(self, fh: BinaryIO, box: Container) -> None:
        self.fh, self.box = fh, box

    def read(self, n: int) -> bytes | None:
        if n < 0 or self.box.bytes_read + n > MAX_METADATA_BYTES:
            self.box.warnings.append("metadata budget exhausted; rest of file not read")
            return None
        data = self.fh.read(n)
        self.box.bytes_read += len(data)
        if len(data) < n:
            self.box.warnings.append("file is truncated")
            return None
        return data


def sniff(head: bytes) -> str:
    """Container format from the first bytes of a file."""
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head[4:8] == b"ftyp":
        return "bmff"
    return "unknown"


def read_container(path: str | Path) -> Container:
    """Walk the file's container and collect metadata blocks (bounded reads, never raises on data)."""
    with open(path, "rb") as fh:
        head = fh.read(32)
        box = Container(format=sniff(head), bytes_read=len(head))
        fh.seek(0)
        walker = {"png": _walk_png, "jpeg": _walk_jpeg, "webp": _walk_webp, "tiff": _walk_tiff}
        fn = walker.get(box.format)
        if fn is not None:
            try:
                fn(_Budget(fh, box))
            except (struct.error, ValueError, OverflowError, zlib.error) as exc:
                box.warnings.append(f"malformed {box.format}: {exc}")
    return box


def _inflate(data: bytes) -> bytes:
    out = zlib.decompressobj().decompress(data, MAX_TEXT_BYTES)
    return out


def _walk_png(b: _Budget) -> None:
    box, fh = b.box, b.fh
    fh.seek(8)
    for _ in range(MAX_BLOCKS):
        hdr = fh.read(8)
        box.bytes_read += len(hdr)
        if len(hdr) < 8:
            box.warnings.append("file is truncated (no IEND)")
            return
        length, ctype = struct.unpack(">I4s", hdr)
        if length > 0x7FFFFFFF:
            box.warnings.append("invalid PNG chunk length")
            return
        if ctype == b"IHDR" and length >= 8:
            data = b.read(length)
            if data is None:
                return
            box.width, box.height = struct.unpack(">II", data[:8])
            fh.seek(4, 1)
        elif ctype in _PNG_META:
            data = b.read(length)
            if data is None:
                return
            fh.seek(4, 1)
            _png_meta(box, ctype, data)
        elif ctype == b"IEND":
            return
        else:
            fh.seek(length + 4, 1)
    box.warnings.append("too many PNG chunks; stopped")


def _png_meta(box: Container, ctype: bytes, data: bytes) -> None:
    if ctype == b"eXIf":
        box.exif.append(data)
        return
    if ctype == b"caBX":
        box.c2pa.append("png caBX chunk")
        return
    key, _, rest = data.partition(b"\x00")
    keyword = key.decode("latin-1", "replace")[:79]
    if ctype == b"tEXt":
        value = rest[:MAX_TEXT_BYTES].decode("latin-1", "replace")
    elif ctype == b"zTXt":
        value = _inflate(rest[1:]).decode("latin-1", "replace")
    else:  # iTXt: flag, method, language\0, translated keyword\0, text
        if len(rest) < 2:
            return
        flag, body = rest[0], rest[2:]
        _lang, _, body = body.partition(b"\x00")
        _tkey, _, body = body.partition(b"\x00")
        raw = _inflate(body) if flag else body[:MAX_TEXT_BYTES]
        value = raw.decode("utf-8", "replace")
    if keyword == "XML:com.adobe.xmp":
        box.xmp.append(value)
    elif keyword.startswith("Raw profile type "):
        _raw_profile(box, keyword[17:].lower(), value)
    else:
        box.text.append((keyword, value, ctype.decode("ascii")))


def _raw_profile(box: Container, kind: str, value: str) -> None:
    """ImageMagick's hex-encoded 'Raw profile type exif|xmp|iptc' text chunks."""
    parts = value.strip().split("\n", 2)
    if len(parts) < 3:
        return
    try:
        blob = bytes.fromhex("".join(parts[2].split()))
    except ValueError:
        box.warnings.append(f"bad raw profile {kind}")
        return
    if kind in ("exif", "app1"):
        box.exif.append(blob)
    elif kind == "xmp":
        box.xmp.append(blob.decode("utf-8", "replace"))
    elif kind in ("iptc", "8bim"):
        box.iptc.extend(_photoshop_iptc(blob) if blob.startswith(b"8BIM") else [blob])


def _walk_jpeg(b: _Budget) -> None:
    box, fh = b.box, b.fh
    fh.seek(2)
    ext_xmp: list[bytes] = []
    for _ in range(MAX_BLOCKS):
        byte = fh.read(1)
        box.bytes_read += len(byte)
        if not byte:
            box.warnings.append("file is truncated")
            break
        if byte != b"\xff":
            continue  # tolerate garbage between segments
        marker = fh.read(1)
        while marker == b"\xff":
            marker = fh.read(1)
        if not marker:
            box.warnings.append("file is truncated")
            break
        m = marker[0]
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            continue
        if m in (0xD9, 0xDA):  # EOI or start of scan: metadata is over
            break
        raw_len = fh.read(2)
        if len(raw_len) < 2:
            box.warnings.append("file is truncated")
            break
        length = struct.unpack(">H", raw_len)[0] - 2
        if length < 0:
            box.warnings.append("invalid JPEG segment length")
            break
        if m in (0xE1, 0xED, 0xEB, 0xFE) or (0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC)):
            data = b.read(length)
            if data is None:
                break
            _jpeg_segment(box, m, data, ext_xmp)
        else:
            fh.seek(length, 1)
    if ext_xmp:
        box.xmp.append(b"".join(ext_xmp).decode("utf-8", "replace"))


def _jpeg_segment(box: Container, m: int, data: bytes, ext_xmp: list[bytes]) -> None:
    if 0xC0 <= m <= 0xCF:
        if len(data) >= 5:
            box.height, box.width = struct.unpack(">HH", data[1:5])
    elif m == 0xE1 and data.startswith(b"Exif\x00"):
        box.exif.append(data[6:])
    elif m == 0xE1 and data.startswith(XMP_JPEG_PREFIX):
        box.xmp.append(data[len(XMP_JPEG_PREFIX):].decode("utf-8", "replace"))
    elif m == 0xE1 and data.startswith(XMP_EXT_PREFIX):
        ext_xmp.append(data[len(XMP_EXT_PREFIX) + 40:])  # GUID(32) + full length(4) + offset(4)
    elif m == 0xED and data.startswith(b"Photoshop 3.0\x00"):
        box.iptc.extend(_photoshop_iptc(data[14:]))
    elif m == 0xEB and data[:2] == b"JP" and (b"jumb" in data[:64] or b"c2pa" in data[:64]):
        if "jpeg APP11 JUMBF" not in box.c2pa:
            box.c2pa.append("jpeg APP11 JUMBF")
    elif m == 0xFE:
        box.comments.append(data[:MAX_TEXT_BYTES].decode("utf-8", "replace"))


def _photoshop_iptc(data: bytes) -> list[bytes]:
    """IPTC-IIM payloads (resource 0x0404) from a Photoshop image-resource block."""
    out, pos = [], 0
    while pos + 12 <= len(data) and data[pos:pos + 4] == b"8BIM":
        rid = struct.unpack(">H", data[pos + 4:pos + 6])[0]
        nlen = data[pos + 6]
        pos += 7 + nlen + ((nlen + 1) % 2)  # Pascal name padded to even length
        if pos + 4 > len(data):
            break
        size = struct.unpack(">I", data[pos:pos + 4])[0]
        pos += 4
        if rid == 0x0404:
            out.append(data[pos:pos + size])
        pos += size + (size % 2)
    return out


def _walk_webp(b: _Budget) -> None:
    box, fh = b.box, b.fh
    fh.seek(12)
    for _ in range(MAX_BLOCKS):
        hdr = fh.read(8)
        box.bytes_read += len(hdr)
        if len(hdr) < 8:
            return
        fourcc, size = struct.unpack("<4sI", hdr)
        padded = size + (size & 1)
        if fourcc in (b"EXIF", b"XMP ", b"VP8X"):
            data = b.read(size)
            if data is None:
                return
            fh.seek(padded - size, 1)
            if fourcc == b"EXIF":
                box.exif.append(data[6:] if data.startswith(b"Exif\x00") else data)
            elif fourcc == b"XMP ":
                box.xmp.append(data.decode("utf-8", "replace"))
            elif len(data) >= 10:
                box.width = 1 + int.from_bytes(data[4:7], "little")
                box.height = 1 + int.from_bytes(data[7:10], "little")
        else:
            if fourcc == b"C2PA":
                box.c2pa.append("webp C2PA chunk")
            fh.seek(padded, 1)


def _walk_tiff(b: _Budget) -> None:
    """TIFF is itself an EXIF structure: hand the (capped) head to the EXIF parser."""
    data = b.fh.read(min(MAX_METADATA_BYTES, 4 * 1024 * 1024))
    b.box.bytes_read += len(data)
    b.box.exif.append(data)

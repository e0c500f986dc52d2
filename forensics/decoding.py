"""Safe image decoding: any file in, an RGB uint8 array (as displayed) or a one-line error out.

Hostile-input rules (issue 7):
- files are opened without following into FIFOs/devices (non-blocking open + fstat), read with a
  byte limit, and never decoded by anything but an allow-list of Pillow plugins (no EPS/Ghostscript,
  no exotic formats);
- the declared pixel count is checked against `max_pixels` before any pixel is allocated;
- content is identified by its bytes, not by its extension; non-images and unsupported formats get a
  precise one-line reason ("not an image: looks like a PDF document", "unsupported format: HEIC ...");
- every decoder failure becomes `ImageDecodeError` with a one-line reason.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 64_000_000  # refuse images that decode to more than this many pixels
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit (max_pixels) before allocation

try:  # optional HEIC/HEIF support when pillow-heif is installed (`pip install forensics[heif]`)
    from pillow_heif import register_heif_opener  # type: ignore

    register_heif_opener()
    HEIF_AVAILABLE = True
except Exception:  # pragma: no cover - optional
    HEIF_AVAILABLE = False

# Pillow plugins we let parse untrusted bytes. Everything else (EPS runs Ghostscript, plus dozens of
# rarely used scientific/legacy formats) is refused with a reason instead of being parsed.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "PPM", "JPEG2000", "HEIF")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                    ".avif", ".heic", ".heif", ".jfif", ".ppm", ".pgm", ".pbm", ".pnm", ".apng", ".jpe", ".mpo",
                    ".jp2", ".jxl")  # .jxl: listed so that folders report "unsupported format" instead of skipping

# extension -> formats whose content is expected under that extension (for a mismatch note)
_EXT_FORMATS = {
    ".jpg": {"JPEG", "MPO"}, ".jpeg": {"JPEG", "MPO"}, ".jpe": {"JPEG", "MPO"}, ".jfif": {"JPEG", "MPO"},
    ".mpo": {"MPO", "JPEG"}, ".png": {"PNG"}, ".apng": {"PNG"}, ".webp": {"WEBP"}, ".bmp": {"BMP"},
    ".tif": {"TIFF"}, ".tiff": {"TIFF"}, ".gif": {"GIF"}, ".avif": {"AVIF", "HEIF"},
    ".heic": {"HEIF"}, ".heif": {"HEIF"}, ".ppm": {"PPM"}, ".pgm": {"PPM"}, ".pbm": {"PPM"}, ".pnm": {"PPM"},
    ".jp2": {"JPEG2000"},
}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"M4V ", b"M4A ", b"qt  ",
                 b"3gp4", b"3gp5", b"3g2a", b"dash", b"avc1", b"f4v "}


def _allowed_formats() -> tuple[str, ...]:
    Image.init()  # loads the plugins; `formats=` only knows registered ones
    return tuple(f for f in ALLOWED_FORMATS if f in Image.OPEN)


class ImageDecodeError(Exception):
    """Raised with a one-line, human-readable reason when a file cannot be used as an image."""


@dataclass(frozen=True)
class DecodedImage:
    """Pixels as displayed (EXIF orientation applied) plus facts about the file."""

    rgb: np.ndarray  # (H, W, 3) uint8
    format: str
    sha256: Optional[str]
    file_size: Optional[int]
    mtime: Optional[float]
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


# --------------------------------------------------------------------------- identification
def _ftyp_brands(head: bytes) -> set[bytes]:
    """Major + compatible brands of an ISO-BMFF file (HEIC, AVIF, MP4, ...)."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(head[:4], "big")
    end = min(len(head), size if 16 <= size <= 4096 else 64)
    brands = {head[8:12]}
    brands.update(head[i:i + 4] for i in range(16, end - 3, 4))
    return brands


def _looks_like_text(head: bytes) -> bool:
    sample = head[:1024]
    if not sample or b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 4:  # a multi-byte character cut at the end is fine
            return False
        text = sample[:e.start].decode("utf-8")
    if not text:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable / len(text) > 0.95


def identify(head: bytes) -> tuple[str, str]:
    """Classify the first bytes of a file: ('image', FORMAT), ('unsupported', reason),
    ('not-image', what it looks like) or ('unknown', '')."""
    h = head
    low = h.lstrip(b"\xef\xbb\xbf \t\r\n")[:256].lower()
    # -- images Pillow decodes for us
    if h.startswith(b"\xff\xd8"):
        return "image", "JPEG"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "GIF"
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return "image", "WEBP"
    if h[:2] == b"BM" and len(h) >= 18 and int.from_bytes(h[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124):
        return "image", "BMP"
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image", "TIFF"
    if re.match(rb"P[1-7F][ \t\r\n#]", h[:3]):
        return "image", "PPM"
    if h.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or h.startswith(b"\xff\x4f\xff\x51"):
        return "image", "JPEG2000"
    brands = _ftyp_brands(h)
    if brands & _AVIF_BRANDS:
        return "image", "AVIF"
    if brands & _HEIF_BRANDS:
        if HEIF_AVAILABLE:
            return "image", "HEIF"
        return "unsupported", "unsupported format: HEIC/HEIF (install pillow-heif: pip install 'forensics[heif]')"
    # -- image formats we recognise but do not decode
    if h.startswith(b"\xff\x0a") or h.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "unsupported", "unsupported format: JPEG XL"
    if h[:4] == b"8BPS":
        return "unsupported", "unsupported format: Photoshop PSD (export it as PNG or JPEG)"
    if h[:4] == b"qoif":
        return "unsupported", "unsupported format: QOI"
    if h[:4] == b"DDS ":
        return "unsupported", "unsupported format: DirectDraw Surface (DDS)"
    if h[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"):
        return "unsupported", "unsupported format: ICO/CUR icon"
    if h[:4] == b"icns":
        return "unsupported", "unsupported format: Apple icon (ICNS)"
    if h[:4] == b"\x76\x2f\x31\x01":
        return "unsupported", "unsupported format: OpenEXR"
    if h.startswith(b"#?RADIANCE") or h.startswith(b"#?RGBE"):
        return "unsupported", "unsupported format: Radiance HDR"
    if h.startswith(b"FUJIFILMCCD-RAW"):
        return "unsupported", "unsupported format: Fujifilm RAF camera raw"
    if brands & {b"crx "}:
        return "unsupported", "unsupported format: Canon CR3 camera raw"
    if b"<svg" in low or (low.startswith(b"<?xml") and b"<svg" in h[:4096].lower()):
        return "not-image", "not an image: looks like an SVG vector image (rasterise it to PNG first)"
    # -- other kinds of files
    for sig, what in ((b"%pdf", "PDF document"), (b"%!ps", "PostScript/EPS document"),
                      (b"<!doctype html", "HTML document"), (b"<html", "HTML document"),
                      (b"<head", "HTML document"), (b"<body", "HTML document"), (b"<?xml", "XML document"),
                      (b"{\\rtf", "RTF document")):
        if low.startswith(sig):
            return "not-image", f"not an image: looks like a {what}"
    for sig, what in ((b"\xc5\xd0\xd3\xc6", "PostScript/EPS document"), (b"PK\x03\x04", "ZIP archive"),
                      (b"PK\x05\x06", "ZIP archive"), (b"\x1f\x8b", "gzip archive"), (b"BZh", "bzip2 archive"),
                      (b"\xfd7zXZ\x00", "xz archive"), (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
                      (b"Rar!\x1a\x07", "RAR archive"), (b"\x7fELF", "ELF executable"),
                      (b"MZ", "Windows executable"), (b"\xd0\xcf\x11\xe0", "Microsoft Office document"),
                      (b"OggS", "Ogg audio/video file"), (b"fLaC", "FLAC audio file"), (b"ID3", "MP3 audio file"),
                      (b"\x1aE\xdf\xa3", "Matroska/WebM video"), (b"SQLite format 3\x00", "SQLite database"),
                      (b"\x80\x02", "Python pickle"), (b"\x80\x04", "Python pickle"), (b"\x80\x05", "Python pickle")):
        if h.startswith(sig):
            return "not-image", f"not an image: looks like a {what}"
    if h[:4] == b"RIFF":
        kind = {b"AVI ": "AVI video", b"WAVE": "WAV audio file"}.get(h[8:12], "RIFF container")
        return "not-image", f"not an image: looks like a {kind}"
    if brands & _VIDEO_BRANDS:
        return "not-image", "not an image: looks like an MP4/QuickTime video"
    if h and not h.strip(b"\x00"):
        return "not-image", "not an image: the file contains only zero bytes"
    if low.startswith((b"{", b"[")) and _looks_like_text(h):
        return "not-image", "not an image: looks like a JSON/text file"
    if _looks_like_text(h):
        return "not-image", "not an image: looks like a plain text file"
    return "unknown", ""


# --------------------------------------------------------------------------- reading files
_KIND_NAMES = ((stat.S_ISFIFO, "a FIFO/named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_regular(st: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageDecodeError("is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KIND_NAMES if test(st.st_mode)), "a special file")
        raise ImageDecodeError(f"not a regular file ({kind})")
    if st.st_size == 0:
        raise ImageDecodeError("empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise ImageDecodeError(f"file too large ({st.st_size} bytes > limit {max_bytes})")


def _os_error(e: OSError, p: str, action: str) -> ImageDecodeError:
    if isinstance(e, FileNotFoundError):
        if os.path.islink(p):
            return ImageDecodeError("broken symbolic link (target does not exist)")
        return ImageDecodeError("file not found")
    if e.errno == errno.ELOOP:
        return ImageDecodeError("symbolic link loop")
    if isinstance(e, PermissionError):
        return ImageDecodeError("permission denied")
    if isinstance(e, IsADirectoryError):
        return ImageDecodeError("is a directory, not an image file")
    if isinstance(e, NotADirectoryError):
        return ImageDecodeError("file not found (a parent path is not a directory)")
    if e.errno == errno.ENAMETOOLONG:
        return ImageDecodeError("file name too long")
    return ImageDecodeError(f"cannot {action} file: {e.strerror or type(e).__name__}")


def read_file_bytes(path: Union[str, Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, os.stat_result]:
    """Read a regular file fully, with clear errors for the ways that can fail.

    The path is checked with stat() (FIFOs, devices, directories are refused without opening them),
    then opened non-blocking and checked again with fstat() on the open descriptor, so a file swapped
    for a FIFO in between cannot hang the read. At most `max_bytes` are read.
    """
    p = os.fspath(path)
    try:
        _check_regular(os.stat(p), max_bytes)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
            getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(p, flags)
    except (OSError, ValueError) as e:
        if isinstance(e, ValueError):  # e.g. an embedded NUL byte in the path
            raise ImageDecodeError(f"invalid file name ({e})") from None
        raise _os_error(e, p, "open") from None
    try:
        st = os.fstat(fd)
        _check_regular(st, max_bytes)
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 22, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as e:
        raise _os_error(e, p, "read") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data:
        raise ImageDecodeError("empty file (0 bytes; it was emptied while being read)")
    if len(data) > max_bytes:
        raise ImageDecodeError(f"file too large (grew past the limit of {max_bytes} bytes while being read)")
    return data, st


# --------------------------------------------------------------------------- pixels
def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency over white."""
    mode = img.mode
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.uint32)
        arr = ((arr * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if mode in ("I", "F"):
        arr = np.asarray(img).astype(np.float64)
        finite = np.isfinite(arr)
        if not finite.any():
            arr = np.zeros(arr.shape, np.uint8)
        else:
            lo, hi = float(arr[finite].min()), float(arr[finite].max())
            if mode == "I" and lo >= 0 and hi <= 255:
                pass
            elif mode == "I" and lo >= 0 and hi <= 65535:
                arr = arr / 65535.0 * 255.0
            elif mode == "F" and lo >= 0 and hi <= 1.0:
                arr = arr * 255.0
            else:
                arr = (arr - lo) / (hi - lo if hi > lo else 1.0) * 255.0
            arr = np.clip(np.where(finite, arr, 0) + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if "transparency" in img.info and mode in ("P", "L", "RGB", "1"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _crop_transparent(img: Image.Image, notes: list[str]) -> Image.Image:
    """Score only what is in the image: crop an image with transparent pixels to the bounding box of its
    visible ones (alpha > 0), so transparent margins (cut-outs, padded stickers) are never scored as
    content; the transparent pixels left inside that box are composited over white (`_to_rgb`), which the
    detector reads as evidence either way, and a note says how much of the image that is. A fully
    transparent image is refused."""
    if img.mode not in _ALPHA_MODES and not ("transparency" in img.info and img.mode in ("P", "L", "RGB", "1")):
        return img
    alpha = np.asarray(img.convert("RGBA").getchannel("A"))
    if alpha.min() == 255:
        return img
    visible = alpha > 0
    if not visible.any():
        raise ImageDecodeError("image is fully transparent: nothing to score")
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    h, w = alpha.shape
    share = 1.0 - float(visible.mean())
    if box != (0, 0, w, h):
        img = img.crop(box)
        alpha = alpha[box[1]:box[3], box[0]:box[2]]
        notes.append(f"transparent pixels: {share:.0%} of the image; scored the visible area's bounding box "
                     f"({box[2] - box[0]}x{box[3] - box[1]} of {w}x{h}, offset {box[0]},{box[1]})")
    inside = float((alpha < 255).mean())
    if inside > 0:
        notes.append(f"transparent or translucent pixels: {inside:.0%} of the scored area, composited over white; "
                     "the detector reads that fill as evidence either way, so the score is weaker evidence")
    return img


def _first_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    msg = msg[:200]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _orientation(img: Image.Image, notes: list[str]) -> Image.Image:
    """Apply EXIF orientation 2..8 (the image as displayed); unreadable EXIF never rejects an image."""
    try:
        orientation = img.getexif().get(0x0112)
    except Exception:
        notes.append("EXIF metadata unreadable: orientation not applied")
        return img
    if orientation in (None, 1):
        return img
    if orientation not in range(2, 9):
        notes.append(f"invalid EXIF orientation {orientation!r} ignored")
        return img
    out = ImageOps.exif_transpose(img)
    notes.append(f"EXIF orientation {orientation} applied (scored as displayed)")
    return out


def decode_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """Decode encoded image bytes to RGB; raises ImageDecodeError with a one-line reason."""
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    kind, what = identify(bytes(data[:4096]))
    if kind in ("not-image", "unsupported"):
        raise ImageDecodeError(what)
    notes: list[str] = []
    stage = "header"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                img = Image.open(io.BytesIO(data), formats=_allowed_formats())
            except UnidentifiedImageError:
                if kind == "image":
                    raise ImageDecodeError(f"truncated or corrupt image data ({what} header unreadable)") from None
                raise ImageDecodeError(f"not an image: unrecognised file content (starts with {data[:8].hex(' ')})") from None
            fmt = (img.format or "unknown").upper()
            w, h = img.size
            if w <= 0 or h <= 0:
                raise ImageDecodeError(f"invalid image size {w}x{h}")
            if w * h > max_pixels:
                raise ImageDecodeError(
                    f"image declares {w}x{h} = {w * h} pixels, over the limit of {max_pixels} "
                    "(possible decompression bomb; raise --max-pixels to allow)")
            if getattr(img, "is_animated", False):
                n = getattr(img, "n_frames", None) if fmt in ("PNG", "WEBP", "MPO") else None
                of = f" of {n}" if isinstance(n, int) and n > 1 else ""
                if fmt == "MPO":
                    notes.append(f"multi-picture JPEG (MPO): scored the first (primary) image{of}")
                elif fmt == "TIFF":
                    notes.append("multi-page TIFF: scored the first page")
                else:
                    notes.append(f"animated {fmt}: scored the first frame{of}")
                img.seek(0)
                if img.size != (w, h) or img.size[0] * img.size[1] > max_pixels:
                    w, h = img.size
                    if w * h > max_pixels or w <= 0 or h <= 0:
                        raise ImageDecodeError(f"first frame declares {w}x{h} pixels, over the limit of {max_pixels}")
            stage = "pixels"
            img.load()
            img = _orientation(img, notes)
            stage = "mode"
            img = _crop_transparent(img, notes)
            rgb = _to_rgb(img)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as e:  # pragma: no cover - we disabled Pillow's limit
        raise ImageDecodeError(f"decompression bomb refused ({_first_line(e)})") from None
    except MemoryError:
        raise ImageDecodeError("not enough memory to decode image") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # any decoder failure on untrusted bytes becomes a one-line reason
        if stage == "mode":
            raise ImageDecodeError(f"unsupported pixel format ({_first_line(e)})") from None
        if "decompressed data too large" in str(e).lower():
            raise ImageDecodeError("refused: a metadata chunk decompresses beyond the safety limit "
                                   f"(metadata decompression bomb; {_first_line(e)})") from None
        raise ImageDecodeError(f"truncated or corrupt image data ({_first_line(e)})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageDecodeError(f"decoded to an unusable array of shape {rgb.shape}")
    return rgb, fmt, tuple(notes)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extension_note(path: Union[str, Path], fmt: str) -> Optional[str]:
    """A note when the file name's extension does not match the decoded format."""
    ext = Path(os.fspath(path)).suffix.lower()
    expected = _EXT_FORMATS.get(ext)
    if expected is None or fmt in expected:
        return None
    return f"content is {fmt} although the file name ends in {ext}"


def load_image(path: Union[str, Path], *, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedImage:
    """Read and decode one image file (as displayed: EXIF orientation applied, first frame)."""
    data, st = read_file_bytes(path, max_bytes=max_bytes)
    rgb, fmt, notes = decode_bytes(data, max_pixels=max_pixels)
    note = extension_note(path, fmt)
    if note:
        notes = notes + (note,)
    return DecodedImage(rgb=rgb, format=fmt, sha256=sha256_bytes(data), file_size=len(data),
                        mtime=st.st_mtime, notes=notes)


def is_encoded(obj: object) -> bool:
    """True for encoded image bytes or a binary file object (anything with `read`), as a web service
    passes uploads: `bytes`, `bytearray`, `memoryview`, `io.BytesIO`, `open(path, "rb")`, a request stream."""
    return isinstance(obj, (bytes, bytearray, memoryview)) or (callable(getattr(obj, "read", None))
                                                                and not isinstance(obj, np.ndarray))


def read_encoded(obj: object, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of `is_encoded` input (a file object is read from its current position, at most
    `max_bytes`); ImageDecodeError with a one-line reason otherwise."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
    else:
        try:
            data = obj.read(max_bytes + 1)  # type: ignore[attr-defined]
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            raise ImageDecodeError(f"cannot read the file object ({_first_line(e)})") from None
        if isinstance(data, str):
            raise ImageDecodeError("file object is in text mode: open the image in binary mode ('rb')")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageDecodeError(f"file object's read() returned {type(data).__name__}, not bytes")
        data = bytes(data)
    if len(data) > max_bytes:
        raise ImageDecodeError(f"image data too large (over the limit of {max_bytes} bytes)")
    if not data:
        raise ImageDecodeError("empty image data (0 bytes)")
    return data


def load_encoded(obj: object, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedImage:
    """Decode image bytes or a binary file object with the same checks as a file (`load_image`):
    content identified by its bytes, pixel limit before allocation, one-line errors."""
    data = read_encoded(obj, max_bytes=max_bytes)
    rgb, fmt, notes = decode_bytes(data, max_pixels=max_pixels)
    return DecodedImage(rgb=rgb, format=fmt, sha256=sha256_bytes(data), file_size=len(data), mtime=None,
                        notes=notes)


def as_rgb_array(image: np.ndarray) -> np.ndarray:
    """Validate/convert an in-memory array (HxW, HxWx1/3/4; uint8 or float in [0,1]) to RGB uint8."""
    try:
        arr = np.asarray(image)
    except Exception as e:
        raise ImageDecodeError(f"not an image array ({_first_line(e)})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ImageDecodeError(f"array of dtype {arr.dtype} is not an image")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(f"array of shape {arr.shape} is not an HxW, HxWx3 or HxWx4 image")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0) * 255.0 + 0.5,
                          0, 255).astype(np.uint8)
        elif arr.dtype == np.uint16:
            arr = (arr // 257).astype(np.uint8)
        elif arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)

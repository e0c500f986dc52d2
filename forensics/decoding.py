"""Safe image decoding: any file in, an RGB uint8 array (as displayed) or a one-line error out."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 64_000_000  # refuse images that decode to more than this many pixels
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit before allocation

try:  # optional HEIC/AVIF support when pillow-heif is installed
    from pillow_heif import register_heif_opener  # type: ignore

    register_heif_opener()
except Exception:  # pragma: no cover - optional
    pass

_TEXT_SIGNATURES = {
    b"<!doctype html": "HTML document", b"<html": "HTML document", b"<?xml": "XML/SVG document",
    b"<svg": "SVG vector image", b"%pdf": "PDF document", b"{": "JSON/text file",
}


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


def _sniff_non_image(head: bytes) -> Optional[str]:
    low = head.lstrip()[:32].lower()
    for sig, what in _TEXT_SIGNATURES.items():
        if low.startswith(sig):
            return what
    return None


def read_file_bytes(path: Union[str, Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, os.stat_result]:
    """Read a regular file fully, with clear errors for the ways that can fail."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise ImageDecodeError("broken symbolic link") from None
        raise ImageDecodeError("file not found") from None
    except OSError as e:
        if e.errno == 40:
            raise ImageDecodeError("symbolic link loop") from None
        raise ImageDecodeError(f"cannot stat file: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageDecodeError("is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageDecodeError("not a regular file")
    if st.st_size == 0:
        raise ImageDecodeError("empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise ImageDecodeError(f"file too large ({st.st_size} bytes > limit {max_bytes})")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except OSError as e:
        raise ImageDecodeError(f"cannot read file: {e.strerror or e}") from None
    return data, st


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency over white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img).astype(np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo + 1e-12) * 255.0
        arr = np.nan_to_num(arr).clip(0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def decode_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """Decode encoded image bytes to RGB; raises ImageDecodeError with a one-line reason."""
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    what = _sniff_non_image(data[:64])
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            fmt = (img.format or "unknown").upper()
            w, h = img.size
            if w <= 0 or h <= 0:
                raise ImageDecodeError(f"invalid image size {w}x{h}")
            if w * h > max_pixels:
                raise ImageDecodeError(
                    f"image declares {w}x{h} = {w * h} pixels, over the limit of {max_pixels} "
                    "(possible decompression bomb; raise --max-pixels to allow)")
            n_frames = getattr(img, "n_frames", 1)
            if n_frames and n_frames > 1:
                notes.append(f"animated {fmt} with {n_frames} frames: scored the first frame")
                img.seek(0)
            img.load()
            orientation = img.getexif().get(0x0112) if hasattr(img, "getexif") else None
            if orientation and orientation != 1:
                img = ImageOps.exif_transpose(img)
                notes.append(f"EXIF orientation {orientation} applied")
            rgb = _to_rgb(img)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        if what:
            raise ImageDecodeError(f"not an image: looks like a {what}") from None
        raise ImageDecodeError("unsupported or unrecognised image format") from None
    except Image.DecompressionBombError as e:  # pragma: no cover - we disabled Pillow's limit
        raise ImageDecodeError(f"decompression bomb refused: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise ImageDecodeError(f"truncated or corrupt image data ({msg})") from None
        raise ImageDecodeError(f"corrupt or unsupported image data ({msg})") from None
    except MemoryError:
        raise ImageDecodeError("not enough memory to decode image") from None
    return rgb, fmt, tuple(notes)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_image(path: Union[str, Path], *, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedImage:
    """Read and decode one image file (as displayed: EXIF orientation applied, first frame)."""
    data, st = read_file_bytes(path, max_bytes=max_bytes)
    rgb, fmt, notes = decode_bytes(data, max_pixels=max_pixels)
    return DecodedImage(rgb=rgb, format=fmt, sha256=sha256_bytes(data), file_size=st.st_size,
                        mtime=st.st_mtime, notes=notes)


def as_rgb_array(image: np.ndarray) -> np.ndarray:
    """Validate/convert an in-memory array (HxW, HxWx1/3/4; uint8 or float in [0,1]) to RGB uint8."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(f"array of shape {arr.shape} is not an HxW, HxWx3 or HxWx4 image")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(np.nan_to_num(arr) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        elif arr.dtype == np.uint16:
            arr = (arr // 257).astype(np.uint8)
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                    ".avif", ".heic", ".heif", ".jfif", ".ppm", ".pgm")

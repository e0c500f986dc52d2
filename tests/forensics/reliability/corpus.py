"""Hostile-input corpus, made at test time (no committed binaries).

`build_corpus(root)` writes every case under `root` and returns the list of `Case`s, each with its
expected outcome: `"score"` (decodes; optional pixel check and expected note) or `"error"` (with a
substring the one-line reason must contain). Used by the reliability tests and by
`benchmarks/reliability_report.py`.

Layout: `root/folder/` holds every case that lives in a folder (what train/eval/audit walk);
`root/live/` holds the cases whose file is changed or removed between listing and decoding
(`Case.before` does that) and so are only run through the per-file paths.
"""
from __future__ import annotations

import io
import os
import pickle
import stat
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

Check = Callable[[np.ndarray], Optional[str]]


@dataclass
class Case:
    name: str
    file: str                      # path relative to the corpus root
    expect: str                    # "score" or "error"
    what: str                      # one line for the report
    reason: str = ""               # error: substring of the reason (case-insensitive)
    note: str = ""                 # score: substring expected in the result notes
    check: Optional[Check] = None  # score: pixel check on the decoded RGB (None = fine, else problem)
    before: Optional[Callable[[], None]] = None  # run after listing, before decoding
    in_folder: bool = True         # lives in root/folder (walked by train/eval/audit)
    skip: str = ""                 # why this case cannot be made here (then it is not run)
    audit_reason: str = ""         # audit (listed size/mtime are checked): expected reason when it differs
    directory: bool = False        # a directory or a link to one: folder walkers (train/eval) do not list it
    path: Path = field(default=Path())

    @property
    def is_error(self) -> bool:
        return self.expect == "error"


# ----------------------------------------------------------------------------- pixels
H, W = 48, 64


def base_rgb(h: int = H, w: int = W) -> np.ndarray:
    """Asymmetric test picture: four coloured quadrants (red, green / blue, yellow) + a mark."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (220, 30, 30)
    a[: h // 2, w // 2:] = (30, 200, 40)
    a[h // 2:, : w // 2] = (30, 40, 210)
    a[h // 2:, w // 2:] = (230, 220, 40)
    a[2:6, 2:10] = (255, 255, 255)  # white mark near the top-left corner
    return a


def close_to(expected: np.ndarray, tol: float = 14.0) -> Check:
    def check(rgb: np.ndarray) -> Optional[str]:
        if rgb.shape != expected.shape:
            return f"shape {rgb.shape} != expected {expected.shape}"
        err = float(np.abs(rgb.astype(np.int16) - expected.astype(np.int16)).mean())
        return None if err <= tol else f"mean abs difference {err:.1f} > {tol}"
    return check


def solid(color: tuple[int, int, int], shape: tuple[int, int], tol: float = 6.0) -> Check:
    return close_to(np.broadcast_to(np.array(color, np.uint8), (*shape, 3)).copy(), tol)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, format=fmt, **kw)
    return b.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def png16_rgb(rgb16: np.ndarray) -> bytes:
    h, w, c = rgb16.shape
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))
    return raw_png(w, h, 16, 2 if c == 3 else 6, rows)


def patch_jpeg_sof(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame size in the SOF marker (the header lies about the size)."""
    i = 2
    while i < len(data) - 9:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return data[:i + 5] + struct.pack(">HH", height, width) + data[i + 9:]
        i += 2 + length
    raise ValueError("no SOF marker")


def ycck_jpeg(cmyk: np.ndarray) -> bytes:
    """A YCCK JPEG (Adobe transform 2). Pillow cannot write YCCK, so: convert the intended CMYK to
    YCC+K ourselves (R=255-C, ... then JPEG YCbCr), store those four planes as a CMYK JPEG and patch
    the Adobe APP14 transform flag from 0 (none) to 2 (YCCK). A YCCK decoder then recovers CMYK."""
    c, m, y, k = (cmyk[..., i].astype(np.float64) for i in range(4))
    r, g, b = 255 - c, 255 - m, 255 - y
    Y = 0.299 * r + 0.587 * g + 0.114 * b
    Cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    Cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    planes = np.stack([Y, Cb, Cr, k], axis=-1).clip(0, 255).round().astype(np.uint8)
    data = bytearray(encode(Image.frombytes("CMYK", (planes.shape[1], planes.shape[0]), planes.tobytes()), "JPEG", quality=95))
    pos = data.find(b"\xff\xeeAdobe" if b"\xff\xeeAdobe" in data else b"\xff\xee")
    if pos < 0:
        raise ValueError("no Adobe APP14 marker written for CMYK JPEG")
    # APP14: FF EE len(2) 'Adobe' version(2) flags0(2) flags1(2) transform(1)
    data[pos + 4 + 11] = 2
    return bytes(data)


def cmyk_to_rgb_naive(cmyk: np.ndarray) -> np.ndarray:
    """What Pillow's CMYK->RGB conversion gives (no colour management)."""
    c = cmyk.astype(np.int32)
    return np.stack([(255 - c[..., i]) * (255 - c[..., 3]) // 255 for i in range(3)], axis=-1).astype(np.uint8)


# EXIF orientation, from the TIFF/EXIF definition of where the stored 0th row and 0th column go
# (e.g. 6: stored row 0 is the displayed right side, stored column 0 the displayed top). STORE maps the
# picture as displayed to the pixels as stored, so a correct scan must show `base` again. Written
# independently of Pillow's exif_transpose, which is what is being tested.
STORE = {
    2: lambda a: a[:, ::-1],                        # row 0 top,    col 0 right
    3: lambda a: a[::-1, ::-1],                     # row 0 bottom, col 0 right
    4: lambda a: a[::-1],                           # row 0 bottom, col 0 left
    5: lambda a: a.transpose(1, 0, 2),              # row 0 left,   col 0 top
    6: lambda a: np.rot90(a, 1),                    # row 0 right,  col 0 top
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # row 0 right,  col 0 bottom
    8: lambda a: np.rot90(a, -1),                   # row 0 left,   col 0 bottom
}


def with_orientation(displayed: np.ndarray, orientation: int) -> bytes:
    stored = np.ascontiguousarray(STORE[orientation](displayed)) if orientation in STORE else displayed
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def frames(colors, size=(W, H)) -> list[Image.Image]:
    return [Image.new("RGB", size, c) for c in colors]


def heif_available() -> bool:
    from forensics.decoding import HEIF_AVAILABLE

    return HEIF_AVAILABLE


# ----------------------------------------------------------------------------- the corpus
def build_corpus(root: Path) -> list[Case]:
    root = Path(root)
    folder, live = root / "folder", root / "live"
    folder.mkdir(parents=True, exist_ok=True)
    live.mkdir(parents=True, exist_ok=True)
    base = base_rgb()
    base_img = Image.fromarray(base)
    png = encode(base_img, "PNG")
    jpg = encode(base_img, "JPEG", quality=92)
    cases: list[Case] = []

    def add(name: str, data: Optional[bytes], expect: str, what: str, *, file: Optional[str] = None,
            **kw) -> Case:
        rel = f"folder/{file or name}" if kw.get("in_folder", True) else f"live/{file or name}"
        case = Case(name=name, file=rel, expect=expect, what=what, path=root / rel, **kw)
        if data is not None and not case.skip:
            case.path.write_bytes(data)
        cases.append(case)
        return case

    # -- empty, truncated, wrong content
    add("zero_byte", b"", "error", "zero-byte file", file="zero_byte.jpg", reason="empty file")
    for cut, label in ((2, "SOI only"), (120, "inside the header tables"), (len(jpg) // 2, "half of the scan data"),
                       (len(jpg) - 2, "missing only the EOI marker")):
        add(f"jpeg_truncated_{cut}", jpg[:cut], "error", f"JPEG cut at byte {cut} of {len(jpg)} ({label})",
            file=f"jpeg_truncated_{cut}.jpg", reason="truncated or corrupt")
    for cut, label in ((8, "signature only"), (20, "inside IHDR"), (len(png) // 2, "inside IDAT")):
        add(f"png_truncated_{cut}", png[:cut], "error", f"PNG cut at byte {cut} of {len(png)} ({label})",
            file=f"png_truncated_{cut}.png", reason="truncated or corrupt")
    add("png_missing_iend", png[:-12], "score", "PNG without its IEND chunk (all pixel data present)",
        file="png_missing_iend.png", check=close_to(base, 0))
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF
    add("png_bad_crc", bytes(bad_crc), "error", "PNG with a wrong IHDR CRC", file="bad_crc.png", reason="corrupt")
    add("png_named_jpg", png, "score", "PNG content named .jpg", file="png_named.jpg",
        note="content is PNG", check=close_to(base, 0))
    add("jpeg_named_png", jpg, "score", "JPEG content named .png", file="jpeg_named.png", note="content is JPEG",
        check=close_to(base))
    add("text_named_png", b"hello, this is not an image\nsecond line\n", "error", "plain text named .png",
        file="text.png", reason="plain text")
    add("random_bytes", np.random.default_rng(7).bytes(4096), "error", "4 KiB of random bytes named .jpg",
        file="random.jpg", reason="unrecognised file content")
    add("zero_filled", b"\x00" * 2048, "error", "2 KiB of zero bytes (a preallocated, never-written file)",
        file="zeros.png", reason="only zero bytes")
    add("html", b"<!DOCTYPE html><html><body><img src=x></body></html>", "error", "HTML page named .jpg",
        file="page.jpg", reason="HTML document")
    add("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>', "error",
        "SVG named .png", file="vector.png", reason="SVG")
    add("svg_xml_prolog", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "error",
        "SVG with an XML prolog named .webp", file="vector2.webp", reason="SVG")
    add("pdf", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "error", "PDF named .jpg", file="doc.jpg",
        reason="PDF document")
    add("eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "error",
        "EPS (would run Ghostscript in Pillow's EPS plugin) named .jpg", file="script.jpg", reason="PostScript")
    add("zip", b"PK\x03\x04" + bytes(60), "error", "ZIP archive named .png", file="archive.png", reason="ZIP")
    add("pickle", pickle.dumps({"x": 1}, protocol=4), "error", "Python pickle named .png", file="pickle.png",
        reason="pickle")
    add("mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64), "error", "MP4 video named .jpg",
        file="video.jpg", reason="video")

    # -- decompression bombs (declared size checked before any allocation)
    add("bomb_png", raw_png(100_000, 100_000, 8, 2, b"\x00" * 16), "error",
        "tiny PNG declaring 100000x100000 pixels", file="bomb.png", reason="decompression bomb")
    add("bomb_jpeg", patch_jpeg_sof(jpg, 65_000, 65_000), "error", "JPEG whose SOF declares 65000x65000",
        file="bomb.jpg", reason="decompression bomb")
    gif = bytearray(encode(base_img.convert("P"), "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)
    add("bomb_gif", bytes(gif), "error", "GIF whose screen declares 65535x65535", file="bomb.gif",
        reason="decompression bomb")
    add("png_ztxt_bomb",
        png[:33] + png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (20 << 20), 9)) + png[33:],
        "error", "PNG with a zTXt chunk inflating to 20 MiB (metadata bomb)", file="ztxt_bomb.png",
        reason="metadata")

    # -- sizes below one receptive field, elongated
    for w, h in ((1, 1), (2, 2), (7, 3)):
        a = np.full((h, w, 3), (10, 120, 230), np.uint8)
        add(f"tiny_{w}x{h}", encode(Image.fromarray(a), "PNG"), "score", f"{w}x{h} PNG",
            file=f"tiny_{w}x{h}.png", note="smaller than", check=close_to(a, 0))
    for w, h in ((3, 4000), (4000, 3)):
        a = np.tile(np.linspace(0, 255, max(w, h), dtype=np.uint8)[:, None, None], (1, 1, 3))
        a = np.ascontiguousarray(np.broadcast_to(a, (max(w, h), min(w, h), 3)) if h > w
                                 else np.broadcast_to(a.transpose(1, 0, 2), (min(w, h), max(w, h), 3)))
        add(f"elongated_{w}x{h}", encode(Image.fromarray(a), "PNG"), "score", f"{w}x{h} PNG (extremely elongated)",
            file=f"elongated_{w}x{h}.png", check=close_to(a, 0))

    # -- bit depths and colour modes
    g16 = np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16)
    add("png_16bit_gray", encode(Image.fromarray(g16), "PNG"), "score", "16-bit grayscale PNG",
        check=close_to(np.repeat((g16 / 257.0).round().astype(np.uint8)[..., None], 3, axis=2), 1),
        file="gray16.png")
    rgb16 = base.astype(np.uint16) * 257
    add("png_16bit_rgb", png16_rgb(rgb16), "score", "16-bit RGB PNG (hand-written chunks)",
        file="rgb16.png", check=close_to(base, 1))
    rgba16 = np.concatenate([rgb16, np.full((H, W, 1), 65535, np.uint16)], axis=2)
    rgba16[:8, :8, 3] = 0
    exp = base.copy()
    exp[:8, :8] = 255
    add("png_16bit_rgba", png16_rgb(rgba16), "score", "16-bit RGBA PNG with a transparent corner",
        file="rgba16.png", check=close_to(exp, 1))
    gray = base.mean(axis=2).astype(np.uint8)
    add("png_gray", encode(Image.fromarray(gray), "PNG"), "score", "8-bit grayscale PNG",
        file="gray.png", check=close_to(np.repeat(gray[..., None], 3, axis=2), 0))
    la = np.stack([gray, np.full_like(gray, 255)], axis=2)
    la[:, : W // 2, 1] = 0  # left half transparent -> cropped away: only the visible half is scored
    exp = np.repeat(gray[..., None], 3, axis=2)[:, W // 2:].copy()
    add("png_gray_alpha", encode(Image.fromarray(la), "PNG"), "score",
        "grayscale+alpha PNG, left half transparent", file="gray_alpha.png", check=close_to(exp, 0))
    rgba = np.concatenate([base, np.full((H, W, 1), 255, np.uint8)], axis=2)
    rgba[H // 2:, :, 3] = 0
    exp = base[: H // 2].copy()
    add("png_rgba", encode(Image.fromarray(rgba), "PNG"), "score",
        "RGBA PNG, bottom half transparent (cropped to the visible half)", file="rgba.png", check=close_to(exp, 0))
    pal = base_img.quantize(colors=8)
    idx = np.asarray(pal).copy()
    trans_index = int(idx[0, W - 1])  # the green quadrant's palette entry becomes transparent
    pal.info["transparency"] = trans_index
    pal_rgb = np.asarray(pal.convert("RGB")).copy()
    pal_rgb[idx == trans_index] = 255
    add("png_palette_trns", encode(pal, "PNG", transparency=trans_index), "score",
        "palette PNG with a transparent palette entry (tRNS)", file="palette_trns.png", check=close_to(pal_rgb, 0))
    bw = (gray > 120)
    add("png_1bit", encode(Image.fromarray(bw).convert("1"), "PNG"), "score", "1-bit black/white PNG",
        file="bilevel.png", check=close_to(np.repeat((bw * 255).astype(np.uint8)[..., None], 3, axis=2), 0))
    fl = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    add("tiff_float32", encode(Image.fromarray(fl), "TIFF"), "score", "32-bit float grayscale TIFF",
        file="float32.tif", check=close_to(np.repeat((fl * 255).round().astype(np.uint8)[..., None], 3, axis=2), 1))
    cmyk = np.zeros((H, W, 4), np.uint8)
    cmyk[:, : W // 2] = (0, 255, 255, 0)      # red
    cmyk[:, W // 2:] = (255, 0, 255, 60)      # darker green
    add("jpeg_cmyk", encode(Image.frombytes("CMYK", (W, H), cmyk.tobytes()), "JPEG", quality=95), "score",
        "CMYK JPEG (Adobe, inverted)", file="cmyk.jpg", check=close_to(cmyk_to_rgb_naive(cmyk), 8))
    add("jpeg_ycck", ycck_jpeg(cmyk), "score",
        "YCCK JPEG (CMYK planes pre-converted to YCC+K, Adobe transform byte patched to 2)", file="ycck.jpg",
        check=close_to(cmyk_to_rgb_naive(cmyk), 10))
    add("jpeg_progressive", encode(base_img, "JPEG", quality=92, progressive=True), "score", "progressive JPEG",
        file="progressive.jpg", check=close_to(base))
    from tests.forensics.reliability.arith_jpeg import arithmetic_jpeg

    ajpg, aexp = arithmetic_jpeg()
    add("jpeg_arithmetic", ajpg, "score",
        "arithmetic-coded JPEG (SOF9, written by our own small QM-coder: Pillow cannot write one)",
        file="arithmetic.jpg", check=close_to(aexp, 2))
    add("jpeg_gray", encode(base_img.convert("L"), "JPEG", quality=92), "score", "grayscale JPEG",
        file="gray.jpg", check=close_to(np.repeat(np.asarray(base_img.convert("L"))[..., None], 3, axis=2)))

    # -- EXIF orientation: the scan must see the image as displayed
    for o in range(2, 9):
        add(f"exif_orientation_{o}", with_orientation(base, o), "score",
            f"JPEG stored transformed, EXIF orientation {o}", file=f"orientation_{o}.jpg",
            note=f"EXIF orientation {o}", check=close_to(base))
    add("exif_orientation_invalid", with_orientation(base, 9), "score", "EXIF orientation 9 (invalid value)",
        file="orientation_9.jpg", note="invalid EXIF orientation", check=close_to(base))
    add("exif_corrupt", encode(base_img, "JPEG", quality=92, exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7fjunkjunk"),
        "score", "JPEG with a corrupt EXIF block (IFD offset out of range)", file="exif_corrupt.jpg",
        check=close_to(base))

    # -- animations and multi-image files: first frame, with a note
    red, blue = (220, 20, 20), (20, 20, 220)

    def anim(fmt: str, n: int = 3, **kw) -> bytes:  # fresh frames each time: Pillow keeps encoder state on images
        f = frames([red] + [blue] * (n - 1))
        return encode(f[0], fmt, save_all=True, append_images=f[1:], **kw)
    add("animated_gif", anim("GIF", duration=100, loop=0), "score",
        "animated GIF (3 frames, first red)", file="animated.gif", note="first frame", check=solid(red, (H, W), 8))
    add("animated_webp", anim("WEBP", duration=100, lossless=True),
        "score", "animated WebP (3 frames)", file="animated.webp", note="first frame", check=solid(red, (H, W)))
    add("animated_png", anim("PNG", duration=100), "score",
        "APNG (3 frames)", file="animated.png", note="first frame", check=solid(red, (H, W), 0))
    add("mpo", anim("MPO", 2, quality=95), "score",
        "multi-picture JPEG (MPO, 2 images)", file="stereo.mpo", note="multi-picture",
        check=solid(red, (H, W)))
    add("tiff_multipage", anim("TIFF"), "score", "3-page TIFF",
        file="pages.tif", note="multi-page", check=solid(red, (H, W), 0))

    # -- other formats
    add("tiff", encode(base_img, "TIFF", compression="tiff_deflate"), "score", "TIFF (deflate)",
        file="image.tiff", check=close_to(base, 0))
    add("bmp", encode(base_img, "BMP"), "score", "BMP", file="image.bmp", check=close_to(base, 0))
    add("webp", encode(base_img, "WEBP", lossless=True), "score", "WebP (lossless)", file="image.webp",
        check=close_to(base, 0))
    add("ppm", encode(base_img, "PPM"), "score", "binary PPM", file="image.ppm", check=close_to(base, 0))
    try:
        avif = encode(base_img, "AVIF", quality=90)
        add("avif", avif, "score", "AVIF", file="image.avif", check=close_to(base, 20))
    except Exception as e:  # pragma: no cover - depends on the Pillow build
        add("avif", None, "error", "AVIF", file="image.avif", skip=f"Pillow cannot write AVIF here ({e})")
    try:
        add("jpeg2000", encode(base_img, "JPEG2000", irreversible=False), "score", "JPEG 2000 (.jp2)",
            file="image.jp2", check=close_to(base, 1))
    except Exception as e:  # pragma: no cover
        add("jpeg2000", None, "error", "JPEG 2000", file="image.jp2", skip=f"Pillow cannot write JPEG 2000 ({e})")
    if heif_available():
        add("heic", encode(base_img, "HEIF", quality=90), "score", "HEIC (decoded through pillow-heif)",
            file="image.heic", check=close_to(base, 20))
    else:
        # the first bytes of a real HEIC file (ftyp box with the heic brand) and some payload
        add("heic", b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heicmiaf" + bytes(200), "error",
            "HEIC without pillow-heif installed", file="image.heic", reason="unsupported format: HEIC")
    add("jpeg_xl", b"\xff\x0a" + np.random.default_rng(1).bytes(200), "error", "JPEG XL codestream",
        file="image.jxl", reason="unsupported format: JPEG XL")
    add("psd", b"8BPS\x00\x01" + bytes(100), "error", "Photoshop PSD named .png", file="layers.png",
        reason="unsupported format: Photoshop")

    # -- file names
    for name, what in (("with space.png", "spaces"), ("ünïcødé 画像.png", "unicode"),
                       ("new\nline.png", "a newline"), ("-dash.png", "a leading dash"),
                       ("--help.png", "two leading dashes")):
        add(f"name_{what.replace(' ', '_')}", png, "score", f"file name with {what}: {name!r}", file=name,
            check=close_to(base, 0))
    if os.name == "posix" and sys.platform != "darwin":  # bytes names: Linux/BSD file systems allow them
        add("name_invalid_utf8", png, "score", "file name with a byte that is not UTF-8 (b'bad\\xff.png')",
            file=os.fsdecode(b"bad\xff.png"), check=close_to(base, 0))

    # -- file-system oddities
    link = add("symlink", None, "score", "symbolic link to a PNG", file="link.png", check=close_to(base, 0))
    os.symlink("with space.png", link.path)
    broken = add("symlink_broken", None, "error", "symbolic link to a missing file", file="broken_link.png",
                 reason="broken symbolic link")
    os.symlink("does-not-exist.png", broken.path)
    loop = add("symlink_loop", None, "error", "symbolic link pointing at itself", file="loop.png",
               reason="symbolic link loop")
    os.symlink("loop.png", loop.path)
    unreadable = add("unreadable", png, "error", "file with mode 000", file="unreadable.png",
                     reason="permission denied")
    os.chmod(unreadable.path, 0)
    try:
        with open(unreadable.path, "rb"):
            pass
        unreadable.skip = ("running as root: mode 000 does not stop root from reading; "
                           "test_unreadable.py reads such a file as an unprivileged user instead")
        os.chmod(unreadable.path, 0o644)
        unreadable.path.unlink()
    except PermissionError:
        pass
    fifo = add("fifo", None, "error", "named pipe (FIFO) named .png: must not block", file="pipe.png",
               reason="not a regular file")
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo.path)
    else:  # pragma: no cover
        fifo.skip = "no mkfifo on this platform"
    dev = add("device", None, "error", "symbolic link to /dev/zero named .jpg: must not read forever",
              file="zero_device.jpg", reason="not a regular file")
    if os.path.exists("/dev/zero"):
        os.symlink("/dev/zero", dev.path)
    else:  # pragma: no cover
        dev.skip = "no /dev/zero"
    d = add("directory", None, "error", "directory named like an image", file="album.jpg", reason="is a directory",
            directory=True)
    d.path.mkdir()
    up = add("symlink_dir_loop", None, "error", "symbolic link to its own folder, named like an image",
             file="parent.jpg", reason="is a directory", audit_reason="symbolic link loop", directory=True)
    os.symlink(".", up.path)

    # -- files that change or disappear between listing and decoding (live/, not in the folder)
    vanish = add("vanishes", png, "error", "file deleted after listing, before decoding", file="vanishes.png",
                 in_folder=False, reason="file not found", audit_reason="file vanished during the audit")
    vanish.before = vanish.path.unlink
    cut = add("truncated_after_listing", png, "error", "file truncated after listing (a writer still copying)",
              file="truncated_later.png", in_folder=False, reason="truncated or corrupt",
              audit_reason="file changed during the audit")
    cut.before = lambda p=cut.path: p.write_bytes(png[: len(png) // 2])
    emptied = add("emptied_after_listing", png, "error", "file emptied after listing", file="emptied.png",
                  in_folder=False, reason="empty file", audit_reason="file changed during the audit")
    emptied.before = lambda p=emptied.path: p.write_bytes(b"")
    other = np.ascontiguousarray(base[::-1])
    swapped = add("replaced_after_listing", png, "score",
                  "file replaced by another image after listing (result describes the new bytes)",
                  file="replaced.png", in_folder=False, check=close_to(other, 0),
                  audit_reason="file changed during the audit")
    swapped.before = lambda p=swapped.path: p.write_bytes(encode(Image.fromarray(other), "PNG"))
    fifo_later = add("fifo_after_listing", png, "error", "file replaced by a FIFO after listing: must not block",
                     file="fifo_later.png", in_folder=False, reason="not a regular file")

    def to_fifo(p: Path = fifo_later.path) -> None:
        p.unlink()
        os.mkfifo(p)
    fifo_later.before = to_fifo if hasattr(os, "mkfifo") else None
    if not hasattr(os, "mkfifo"):  # pragma: no cover
        fifo_later.skip = "no mkfifo on this platform"
    return cases


def folder_cases(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.in_folder and not c.skip]


def cleanup(root: Path) -> None:
    """Make everything removable again (mode 000 files)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p) and os.path.exists(p):
                os.chmod(p, stat.S_IRWXU)


# ----------------------------------------------------------------------------- checking outcomes
def check_outcome(case: Case, *, label: str, error: Optional[str], notes=(), score: Optional[float] = None,
                  width: Optional[int] = None, height: Optional[int] = None, audit: bool = False) -> Optional[str]:
    """Compare one outcome (a ScanResult's fields, or a CLI/audit record) with the case's expectation;
    returns None when it matches, else what is wrong. `audit=True`: the file was listed by an audit
    before it changed, so the audit's own reason (`audit_reason`) applies where one is given."""
    reason = case.audit_reason if audit and case.audit_reason else case.reason
    if case.is_error or (audit and case.audit_reason):
        if label != "error":
            return f"expected an error containing {reason!r}, got label {label!r} (score {score})"
        if not error or reason.lower() not in error.lower():
            return f"expected an error containing {reason!r}, got {error!r}"
        if "\n" in error or "Traceback" in error:
            return f"error reason is not one line: {error!r}"
        return None
    if label not in ("real", "uncertain", "fake"):
        return f"expected a score, got label {label!r} ({error})"
    if score is None or not 0.0 <= score <= 1.0:
        return f"score {score!r} is not a probability"
    if case.note and not any(case.note.lower() in n.lower() for n in notes or ()):
        return f"expected a note containing {case.note!r}, got {list(notes or ())}"
    return None


def check_pixels(case: Case, rgb: np.ndarray) -> Optional[str]:
    if case.check is None:
        return None
    return case.check(rgb)


def tiny(case: Case) -> bool:
    return case.name.startswith("tiny_")

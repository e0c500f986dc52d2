"""Property-based fuzzing (issue 7): random bytes and mutated valid images (PNG, JPEG, GIF, WebP, TIFF,
BMP) into the decoder and `Detector.scan`; also random arrays into `scan`. Properties: nothing but
`ImageDecodeError` ever escapes the decoder, `scan` never raises, and every outcome is either a valid
RGB image / probability or an error record with a one-line reason.

Budget: FORENSICS_FUZZ_EXAMPLES examples per test (default 60, derandomized so CI is repeatable).
A longer, random run by hand:

    FORENSICS_FUZZ_EXAMPLES=5000 pytest tests/forensics/reliability/test_fuzz.py
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from forensics.decoding import ImageDecodeError, decode_bytes, load_image

EXAMPLES = int(os.environ.get("FORENSICS_FUZZ_EXAMPLES", "60"))
BY_HAND = "FORENSICS_FUZZ_EXAMPLES" in os.environ
MAX_PIXELS = 1_000_000  # mutated headers may declare big images: keep each example fast and small
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not BY_HAND, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def _seed_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:32]
    rgb = np.stack([xx * 8, yy * 10, (xx + yy) * 4], axis=2).astype(np.uint8)
    rgb[4:8, 4:12] = rng.integers(0, 256, (4, 8, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    rgba = img.convert("RGBA")
    out = {}
    for name, im, fmt, kw in (
            ("png", img, "PNG", {}), ("png_rgba", rgba, "PNG", {}), ("png_palette", img.quantize(16), "PNG", {}),
            ("jpeg", img, "JPEG", {"quality": 85}), ("jpeg_progressive", img, "JPEG", {"progressive": True}),
            ("gif", img.convert("P"), "GIF", {}), ("webp", img, "WEBP", {"quality": 80}),
            ("webp_lossless", rgba, "WEBP", {"lossless": True}), ("tiff", img, "TIFF", {"compression": "tiff_lzw"}),
            ("bmp", img, "BMP", {})):
        b = io.BytesIO()
        im.save(b, format=fmt, **kw)
        out[name] = b.getvalue()
    frames = [Image.new("RGB", (32, 24), c) for c in ((200, 0, 0), (0, 0, 200))]
    for name, fmt in (("gif_animated", "GIF"), ("apng", "PNG"), ("webp_animated", "WEBP")):
        b = io.BytesIO()
        frames[0].save(b, format=fmt, save_all=True, append_images=frames[1:], duration=50)
        out[name] = b.getvalue()
    return out


SEEDS = _seed_images()


@st.composite
def mutated_images(draw) -> bytes:
    """A valid image with a few of: byte flips/overwrites, truncation, a removed or duplicated span,
    inserted garbage. Header bytes are hit often (most mutations land in the first 64 bytes)."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "delete", "duplicate", "insert", "int32"]))
        if not data:
            break
        head = draw(st.booleans())
        pos = draw(st.integers(0, min(len(data), 64) - 1 if head else len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 32))]
        elif kind == "duplicate":
            n = draw(st.integers(1, 64))
            data[pos:pos] = data[pos:pos + n]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:  # a size/offset field replaced by an extreme 32-bit value
            v = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, draw(st.integers(0, 2**32 - 1))]))
            data[pos:pos + 4] = v.to_bytes(4, draw(st.sampled_from(["big", "little"])))
    return bytes(data)


any_bytes = st.one_of(st.binary(max_size=2048), mutated_images(),
                      st.sampled_from(sorted(SEEDS)).map(SEEDS.__getitem__))


def _check_decoded(rgb: np.ndarray) -> None:
    assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] >= 1 and rgb.shape[1] >= 1 and rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS


def _check_reason(reason: str) -> None:
    assert reason and "\n" not in reason and "Traceback" not in reason and len(reason) < 600


@FUZZ
@given(data=any_bytes)
def test_decoder_never_raises_anything_else(data):
    try:
        rgb, fmt, notes = decode_bytes(data, max_pixels=MAX_PIXELS)
    except ImageDecodeError as e:
        _check_reason(str(e))
    else:
        _check_decoded(rgb)
        assert isinstance(fmt, str) and all(isinstance(n, str) and "\n" not in n for n in notes)


@FUZZ
@given(data=any_bytes, suffix=st.sampled_from([".png", ".jpg", ".gif", ".webp", ".bin"]))
def test_scan_of_fuzzed_file_always_gives_one_record(detector, data, suffix):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"fuzz{suffix}"
        p.write_bytes(data)
        try:
            expected = load_image(p, max_pixels=MAX_PIXELS)
        except ImageDecodeError as e:
            expected = e
        r = detector.scan(p, provenance=False, max_pixels=MAX_PIXELS)
    assert r.path == str(p)
    if isinstance(expected, ImageDecodeError):
        assert r.label == "error" and r.error == str(expected)
        _check_reason(r.error)
        assert r.score is None
    else:
        assert r.label in ("real", "fake") and r.error is None
        assert 0.0 <= r.score <= 1.0 and (r.width, r.height) == (expected.width, expected.height)
        assert r.sha256 == expected.sha256


@FUZZ
@given(arr=hnp.arrays(dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
                      shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=40),
                      elements=None))
def test_scan_of_random_arrays_never_raises(detector, arr):
    r = detector.scan(arr, provenance=False)
    if r.label == "error":
        _check_reason(r.error)
    else:
        assert r.label in ("real", "fake") and 0.0 <= r.score <= 1.0
        assert arr.ndim in (2, 3) and r.width == arr.shape[1] and r.height == arr.shape[0]


def test_seed_images_decode():
    """The un-mutated seeds are valid: the fuzzer starts from images the decoder accepts."""
    for name, data in SEEDS.items():
        rgb, fmt, _ = decode_bytes(data, max_pixels=MAX_PIXELS)
        assert rgb.shape == (24, 32, 3), name


"""Invisible DWT-DCT watermarks that Stable Diffusion front-ends embed by default.

The ``invisible-watermark`` package (``imwatermark``) hides bits in the U channel: Haar DWT,
then in every 4x4 block of the LL band the largest non-DC coefficient is quantised with step 36;
block ``k`` carries bit ``k mod n``, and decoding averages the votes per bit. ``decode_bits``
re-implements that decoder vectorised (bit-exact with ``imwatermark.WatermarkDecoder``, checked
by the tests) so that all known patterns and both channel orders cost one DWT.

A pattern is reported only when the decoded bits agree with it beyond chance: a one-sided
binomial test against p = 0.5, Bonferroni-corrected over all (pattern, channel order) tests,
must fall below ``ALPHA``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from forensics.provenance._signals import signal

ALPHA = 1e-6
MIN_PIXELS = 256 * 256          # imwatermark refuses smaller images
MAX_PIXELS = 50_000_000
SCALE, BLOCK = 36, 4


def _bits_of_bytes(data: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(data, dtype=np.uint8)))


#: name -> (bits, channel order the reference code passes to the encoder, who embeds it)
PATTERNS: dict[str, tuple[tuple[int, ...], str]] = {
    "StableDiffusionV1": (_bits_of_bytes(b"StableDiffusionV1"),
                          "CompVis SD 1.x scripts, Automatic1111 and other SD 1.x front-ends"),
    "SDV2": (_bits_of_bytes(b"SDV2"), "Stability SD 2.x reference scripts"),
    "SDXL": (tuple(int(c) for c in bin(0b101100111110110010010000011110111011000110011110)[2:]),
             "SDXL (Stability generative-models and diffusers StableDiffusionXLWatermarker)"),
}
ORDERS = ("bgr", "rgb")  # bgr: RGB converted to BGR before encoding; rgb: RGB passed as if BGR


def binom_sf(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact."""
    return sum(math.comb(n, i) for i in range(max(k, 0), n + 1)) / 2.0 ** n


def _ll_band(plane: np.ndarray) -> np.ndarray:
    try:
        import pywt
        return pywt.dwt2(plane, "haar")[0]
    except ImportError:  # same transform; may differ from pywt in the last ulp
        x = plane.astype(np.float64)
        c = 0.7071067811865476
        rows = x[:, 0::2] * c + x[:, 1::2] * c
        return rows[0::2] * c + rows[1::2] * c


def block_votes(bgr: np.ndarray) -> np.ndarray:
    """Per-block hard votes (0/1) of the dwtDct decoder, in the encoder's block order."""
    import cv2

    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    ll = _ll_band(yuv[: rows // 4 * 4, : cols // 4 * 4, 1])
    nr, nc = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    blocks = ll[: nr * BLOCK, : nc * BLOCK].reshape(nr, BLOCK, nc, BLOCK).swapaxes(1, 2)
    blocks = blocks.reshape(nr * nc, BLOCK * BLOCK)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(len(blocks)), pos])
    return ((val % SCALE) > 0.5 * SCALE).astype(np.float64)


def decode_bits(votes: np.ndarray, n: int) -> np.ndarray:
    """Average the block votes of each bit position (block k -> bit k mod n) and threshold."""
    idx = np.arange(len(votes)) % n
    ones = np.bincount(idx, weights=votes, minlength=n)
    count = np.bincount(idx, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ones / count) * 255 > 127


def match_patterns(rgb: np.ndarray) -> list[dict[str, Any]]:
    """Binomial agreement of every known pattern in both channel orders (sorted, best first)."""
    m = len(PATTERNS) * len(ORDERS)
    out = []
    for order in ORDERS:
        votes = block_votes(rgb[..., ::-1] if order == "bgr" else rgb)
        for name, (bits, _who) in PATTERNS.items():
            decoded = decode_bits(votes, len(bits))
            agree = int(np.sum(decoded == np.asarray(bits, dtype=bool)))
            p = binom_sf(agree, len(bits))
            out.append({"pattern": name, "order": order, "agree": agree, "n_bits": len(bits),
                        "agreement": round(agree / len(bits), 4), "p_value": p,
                        "p_adjusted": min(1.0, p * m), "match": p * m < ALPHA})
    return sorted(out, key=lambda r: r["p_value"])


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode pixels as uint8 RGB with a pixel-count guard (raises on bad files)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decompression-bomb warnings: the size check below decides
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValueError(f"image too large for the watermark check ({im.width}x{im.height})")
            return np.asarray(im.convert("RGB"))


def inspect_array(rgb: np.ndarray) -> tuple[list[dict], dict[str, Any]]:
    """(signals, result) for an RGB uint8 array."""
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        return [], {"skipped": f"image smaller than 256x256 pixels ({w}x{h})"}
    tests = match_patterns(rgb)
    best = tests[0]
    result = {"method": "dwtDct", "alpha": ALPHA, "n_tests": len(tests), "best": best}
    sigs = []
    for t in tests:
        if t["match"]:
            sigs.append(signal("invisible_watermark",
                               f"{t['pattern']} dwtDct watermark ({t['agree']}/{t['n_bits']} bits)",
                               "strong", embedded_by=PATTERNS[t["pattern"]][1], **t))
            break
    return sigs, result


def inspect_watermark(path: str | Path) -> tuple[list[dict], dict[str, Any]]:
    """(signals, result) for an image file; a file that cannot be decoded gives a skipped result."""
    try:
        rgb = load_rgb(path)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on hostile files
        return [], {"skipped": f"pixels not decodable: {type(exc).__name__}: {str(exc)[:120]}"}
    return inspect_array(rgb)


def imwatermark_available() -> bool:
    """True when the reference ``imwatermark`` package imports (needed only to embed marks)."""
    try:
        import imwatermark  # noqa: F401
        return True
    except Exception:  # noqa: BLE001
        return False

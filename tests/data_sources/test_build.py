"""data_sources/build.py: a source's `trim` cuts a visible watermark off every image before it is kept."""
from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

BUILD = Path(__file__).resolve().parents[2] / "data_sources" / "build.py"


def _builder_module():
    spec = importlib.util.spec_from_file_location("data_sources_build", BUILD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _jpeg_with_watermark(w: int = 256, h: int = 256, bar: int = 16) -> bytes:
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    pix[h - bar:, w - 5 * bar:] = (255, 255, 0)  # a colour bar in the bottom-right corner
    buf = io.BytesIO()
    Image.fromarray(pix).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _add_trimmed(out: Path, bottom: int):
    """A Builder writing to `out` after adding one watermarked JPEG of a source trimmed by `bottom` rows."""
    b = _builder_module().Builder(out, min_side=128, dup_bits=4)
    src = {"name": "gallery", "label": "fake", "family": "dalle2", "trim": {"bottom": bottom}}
    stats = {"kept": 0, "tiny": 0, "dup": 0, "bad": 0, "missing": 0, "not_grid": 0}
    b.add_file(src, "owner/repo@c:img/a.jpg", "img/a.jpg", _jpeg_with_watermark(), stats)
    return b, stats


def test_trim_cuts_the_margin_and_writes_png(tmp_path: Path) -> None:
    b, stats = _add_trimmed(tmp_path, 16)
    assert stats["kept"] == 1
    out = tmp_path / "fake" / "dalle2" / "gallery" / "img__a.png"
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (256, 240)
        kept = np.asarray(im.convert("RGB"))
    # the bar is gone: the new bottom-right corner is noise (mean blue near 128), not yellow (blue 0)
    assert kept[-8:, -80:, 2].mean() > 80
    rec = b.records[0]
    assert rec["height"] == 240 and rec["path"].endswith(".png")
    json.dumps(rec)


def test_trim_that_leaves_too_little_is_skipped_as_tiny(tmp_path: Path) -> None:
    b, stats = _add_trimmed(tmp_path, 200)
    assert stats["kept"] == 0 and stats["tiny"] == 1 and not b.records
    assert not any(tmp_path.rglob("*.png"))

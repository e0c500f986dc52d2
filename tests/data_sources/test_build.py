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


def _photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)  # smooth enough for a stable difference hash
    buf = io.BytesIO()
    Image.fromarray(small).resize((256, 256), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _stats() -> dict:
    return {"kept": 0, "tiny": 0, "dup": 0, "bad": 0, "missing": 0, "not_grid": 0}


def test_a_partial_build_skips_what_the_full_build_skips(tmp_path: Path) -> None:
    """A photo that two sources ship is kept once by a full run; a later --only run of the second source
    must skip it too (stop 56: incremental builds had let two such copies in)."""
    mod = _builder_module()
    wallpapers = {"name": "wallpapers", "label": "real", "family": "wallpaper"}
    more = {"name": "more-wallpapers", "label": "real", "family": "wallpaper"}
    shared, own = _photo(1), _photo(2)
    full = mod.Builder(tmp_path, min_side=128, dup_bits=4)
    full.add_file(wallpapers, "a@c:x.jpg", "x.jpg", shared, _stats())
    more_stats = _stats()
    for name, data in (("copy.jpg", shared), ("own.jpg", own)):
        full.add_file(more, f"b@c:{name}", name, data, more_stats)
    full.finish(clean=True)
    assert more_stats["kept"] == 1 and more_stats["dup"] == 1

    sources = [wallpapers, more, {"name": "later", "label": "real", "family": "wallpaper"}]
    earlier = mod.earlier_records(sources, {"more-wallpapers"}, tmp_path / "manifest.jsonl")
    assert list(earlier) == ["wallpapers"]  # the selected source itself and later ones are not indexed
    partial = mod.Builder(tmp_path, min_side=128, dup_bits=4)
    assert partial.index_written(earlier["wallpapers"]) == 1
    again = _stats()
    for name, data in (("copy.jpg", shared), ("own.jpg", own)):
        partial.add_file(more, f"b@c:{name}", name, data, again)
    assert again == more_stats
    assert [r["path"] for r in partial.records] == ["real/more-wallpapers/own.jpg"]
    # the manifest keeps each file's hash, so the partial run decoded no earlier file but the one it compared
    assert all(len(r["dhash"]) == 16 for r in earlier["wallpapers"])
    assert not callable(partial.dups["real"].thumbs[0])
    # a manifest written before hashes were kept: its files are decoded, with the same outcome
    old = mod.Builder(tmp_path, min_side=128, dup_bits=4)
    assert old.index_written([{k: v for k, v in r.items() if k != "dhash"} for r in earlier["wallpapers"]]) == 1
    old_stats = _stats()
    old.add_file(more, "b@c:copy.jpg", "copy.jpg", shared, old_stats)
    assert old_stats["dup"] == 1


def test_a_partial_build_without_a_full_manifest_says_so(tmp_path: Path, capsys) -> None:
    mod = _builder_module()
    sources = [{"name": "a", "label": "real", "family": "x"}, {"name": "b", "label": "real", "family": "x"}]
    assert mod.earlier_records(sources, {"b"}, tmp_path / "manifest.jsonl") == {}
    captured = capsys.readouterr()
    assert "not checked for near-duplicates" in captured.out + captured.err
    assert mod.earlier_records(sources, {"a"}, tmp_path / "manifest.jsonl") == {}  # nothing listed before it

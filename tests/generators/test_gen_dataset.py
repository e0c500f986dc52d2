"""write_fake_dataset: PNGs + manifest, and resuming without rewriting finished files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import generators


def _manifest(d):
    return [json.loads(line) for line in (d / "manifest.jsonl").read_text().splitlines()]


def test_manifest_fields(trained, tmp_path):
    gen = trained["dcgan"]
    out = generators.write_fake_dataset(gen, 5, tmp_path / "ds", seed=3, progress=False, batch_size=2)
    recs = _manifest(out)
    assert [r["index"] for r in recs] == list(range(5))
    assert recs[0]["file"] == "dcgan_000000.png"
    for r in recs:
        assert {"file", "generator", "seed", "index", "config_hash", "weights_id"} <= set(r)
        assert r["generator"] == "dcgan" and r["seed"] == 3 and r["weights_id"] == gen.weights_id()
        assert np.asarray(Image.open(out / r["file"])).shape == (8, 8, 3)
    # the dataset holds exactly what sample() gives for the same seed
    imgs = np.stack([np.asarray(Image.open(out / r["file"])) for r in recs])
    assert np.array_equal(imgs, gen.sample(5, seed=3, device="cpu", batch_size=2))


def test_resume_does_not_rewrite(trained, tmp_path):
    gen = trained["glow"]
    a, b = tmp_path / "a", tmp_path / "b"
    generators.write_fake_dataset(gen, 3, a, seed=0, progress=False, batch_size=2)
    stamp = {p.name: p.stat().st_mtime_ns for p in a.glob("*.png")}
    # simulate an interrupted run: the last file lost, a torn manifest line
    (a / "glow_000002.png").unlink()
    lines = (a / "manifest.jsonl").read_text().splitlines()
    (a / "manifest.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])
    (a / ".glow_000002.png.tmp").write_bytes(b"half a png")
    generators.write_fake_dataset(gen, 7, a, seed=0, progress=False, batch_size=2)
    for name in ("glow_000000.png", "glow_000001.png"):
        assert (a / name).stat().st_mtime_ns == stamp[name]
    generators.write_fake_dataset(gen, 7, b, seed=0, progress=False, batch_size=2)
    for i in range(7):
        f = f"glow_{i:06d}.png"
        assert np.array_equal(np.asarray(Image.open(a / f)), np.asarray(Image.open(b / f)))
    assert sorted(r["index"] for r in _manifest(a)) == list(range(7))
    assert not list(a.glob("*.tmp")) and not list(a.glob(".*.tmp"))


def test_refuses_mixing_generators(trained, tmp_path):
    generators.write_fake_dataset(trained["gmm"], 2, tmp_path, seed=0, progress=False)
    with pytest.raises(ValueError, match="another generator"):
        generators.write_fake_dataset(trained["dcgan"], 2, tmp_path, seed=0, progress=False)
    with pytest.raises(ValueError):
        generators.write_fake_dataset(trained["gmm"], 2, tmp_path, seed=1, progress=False)

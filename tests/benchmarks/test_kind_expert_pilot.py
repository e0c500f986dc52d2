"""benchmarks/kind_expert_pilot.py: a probe fitted on one content cell's rows against the general probe, same rows,
and the closer views an expert can be fitted on."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from kind_expert_pilot import balanced_ap, cell_table, stored_features, zoomed  # noqa: E402

from forensics.pretrained.selection import Rows, cross_fit  # noqa: E402


def test_balanced_ap_weighs_both_classes_equally():
    assert balanced_ap(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    # one fake among many reals: chance-level AP is one half, not the fake share
    rng = np.random.default_rng(0)
    assert balanced_ap(rng.normal(size=400), rng.normal(size=4000)) == pytest.approx(0.5, abs=0.06)


def test_an_expert_on_one_cell_sees_what_the_other_cells_hide():
    """Faces: fakes differ from real faces along direction 0; elsewhere direction 0 is content (other pictures have
    it high whatever their label) and fakes differ along direction 1. A probe on every row learns mostly direction
    1; the face expert learns direction 0 and ranks the left-out face family better."""
    rng = np.random.default_rng(1)
    names, labels, fams, cells, feats = [], [], [], [], []

    def add(n, source, label, family, cell, shift):
        for _ in range(n):
            x = rng.normal(size=8)
            x += shift
            names.append(source), labels.append(label), fams.append(family), cells.append(cell), feats.append(x)

    for i in range(6):
        add(40, f"faces{i}", 0, "faces", "face", np.zeros(8))
        add(40, f"photos{i}", 0, "photos", "other", np.r_[3.0, np.zeros(7)])
    for f in range(3):
        add(40, f"facegan{f}", 1, f"facegan{f}", "face", np.r_[1.0, np.zeros(7)])
        add(40, f"diff{f}", 1, f"diff{f}", "other", np.r_[0.0, 2.0, np.zeros(6)])
    n = len(names)
    rows = Rows(np.arange(n)[:, None], np.array([f"{s}/{i}" for i, s in enumerate(names)]), np.array(labels),
                np.array(fams), np.array(names), np.array(["clean"] * n))
    x = np.array(feats)
    in_cell = np.array(cells) == "face"

    def fit_on(mask):
        from forensics.pretrained.probe import fit_logistic

        def fit(idx, y, src):
            keep = mask[idx[:, 0]]
            mean, scale, coef, b = fit_logistic(x[idx[keep, 0]], y[keep], None, l2=1e-2, max_iter=200)
            return lambda jdx: ((x[jdx[:, 0]] - mean) / scale) @ coef + b
        return fit

    crossfits = {"general": cross_fit(rows, fit_on(np.ones(n, bool)), n_groups=3),
                 "expert": cross_fit(rows, fit_on(in_cell), n_groups=3)}
    table = cell_table(rows, in_cell, crossfits)
    assert set(table) == {"facegan0", "facegan1", "facegan2"}  # the cell's families only
    for r in table.values():
        assert r["n"] == 40 and r["n_real"] > 0
        assert r["expert"] > r["general"] + 0.1
        assert r["half:expert"] > r["general"]  # half way to the expert already ranks better
    assert cell_table(rows, in_cell, crossfits, "jpeg:75") == {}  # no rows of that condition


def closer_view(rgb, view):
    """The 224 px view the expert of `view` reads: the zoomed image through the store's crop224 view."""
    from forensics.pretrained.clip_encoder import make_view

    return make_view(zoomed(rgb, view), "crop224")[0]


def test_closer_views_see_the_centre_at_native_or_twice_the_shipped_scale():
    rgb = np.zeros((600, 1000, 3), np.uint8)
    rgb[250:350, 450:550] = 255  # a 100 px white square in the centre
    native = closer_view(rgb, "crop224")
    assert native.shape == (224, 224, 3) and (native == 255).all(axis=2).sum() == 100 * 100
    zoom = closer_view(rgb, "r448")  # 600 -> 448: the square is about 75 px wide
    assert zoom.shape == (224, 224, 3) and abs(int((zoom > 127).all(axis=2).sum()) - 75 * 75) < 400
    with pytest.raises(ValueError, match="unknown closer view"):
        closer_view(rgb, "resize224")


def test_closer_view_features_are_stored_and_only_new_images_computed(tmp_path):
    from forensics.pretrained import clip_file
    from forensics.pretrained.clip_encoder import ClipEncoder
    from forensics.pretrained.features import FeatureSpec

    ok, clip_path = clip_file.status()
    if not ok:
        pytest.skip("CLIP encoder not available here")

    rng = np.random.default_rng(0)
    images = {f"k{i}": rng.integers(0, 256, (300, 260, 3), dtype=np.uint8) for i in range(3)}
    loaded = []

    def load(key):
        loaded.append(key)
        return images[key]

    enc = ClipEncoder((4,), path=clip_path, precision="float32")
    folder = tmp_path / "r448__clean"
    spec = FeatureSpec(mean_blocks=(4,), view="crop224")
    r448 = lambda k: zoomed(load(k), "r448")  # noqa: E731
    first = stored_features(["k0", "k1"], r448, spec, enc, folder, "clean")
    assert set(first) == {"k0", "k1"} and first["k0"].shape == (768,) and any(folder.glob("chunk-*.npz"))
    again = stored_features(["k0", "k1", "k2"], r448, spec, enc, folder, "clean")
    assert loaded == ["k0", "k1", "k2"]  # k0 and k1 came from the cache
    np.testing.assert_allclose(again["k0"], first["k0"])
    assert not np.allclose(again["k2"], again["k0"])


def test_parse_blocks_reads_feature_names():
    from kind_expert_pilot import parse_blocks

    from forensics.pretrained.features import FeatureSpec

    assert parse_blocks("mean9,10,11+cls11") == ((9, 10, 11), (11,))
    assert parse_blocks("mean4,5,6") == ((4, 5, 6), ())
    # the inverse of FeatureSpec.name, view aside
    spec = FeatureSpec(mean_blocks=(7, 8), cls_blocks=(11,))
    assert parse_blocks(spec.name().split("@")[0]) == ((7, 8), (11,))
    for bad in ("", "mean", "blocks4", "mean4,x", "cls12", "mean4+"):
        with pytest.raises(ValueError, match="expected parts like"):
            parse_blocks(bad)

import numpy as np
import pytest

from forensics.pretrained.clip_encoder import GRID, WIDTH
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.probe import LinearProbe, balanced_weights, fit_probe


def _hidden(n, blocks, seed=0):
    rng = np.random.default_rng(seed)
    return {b: rng.normal(size=(n, 1 + GRID * GRID, WIDTH)).astype(np.float32) for b in blocks}


def test_token_logits_average_to_the_image_logit():
    spec = FeatureSpec((6, 8), (9,), "resize224")
    rng = np.random.default_rng(1)
    probe = LinearProbe(spec, rng.normal(size=spec.dim).astype(np.float32),
                        (rng.random(spec.dim) + 0.5).astype(np.float32), rng.normal(size=spec.dim).astype(np.float32), 0.3)
    hidden = _hidden(3, spec.blocks)
    image = probe.logits(spec.summarise(hidden))
    tokens = probe.token_logits(hidden)
    assert tokens.shape == (3, GRID, GRID)
    np.testing.assert_allclose(tokens.mean(axis=(1, 2)), image, rtol=1e-4, atol=1e-3)


def test_fit_separates_and_round_trips(tmp_path):
    spec = FeatureSpec((7,), (), "resize224")
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200), np.ones(200)]
    x = rng.normal(size=(400, spec.dim)).astype(np.float32)
    x[:, :5] += y[:, None] * 1.5
    probe = fit_probe(x, y, spec, weights=balanced_weights(y, np.array(["a"] * 400)), l2=1e-3)
    acc = ((probe.logits(x) > 0) == y).mean()
    assert acc > 0.95
    probe.save(tmp_path / "p.safetensors")
    back = LinearProbe.load(tmp_path / "p.safetensors", spec)
    np.testing.assert_allclose(back.logits(x[:5]), probe.logits(x[:5]), rtol=1e-5)
    with pytest.raises(ValueError, match="expected"):
        LinearProbe.load(tmp_path / "p.safetensors", FeatureSpec((6, 7), (), "resize224"))


def test_balanced_weights_give_each_source_an_equal_share():
    y = np.array([0] * 90 + [0] * 10 + [1] * 50)
    src = np.array(["big"] * 90 + ["small"] * 10 + ["f"] * 50)
    w = balanced_weights(y, src)
    assert np.isclose(w[src == "big"].sum(), w[src == "small"].sum())
    assert np.isclose(w[y == 0].sum(), w[y == 1].sum())


def test_content_balanced_weights_give_each_content_the_same_share_in_both_classes():
    # reals: one face source, two other sources; fakes: three face sources, one other source
    src = np.array(["rf"] * 10 + ["ro1"] * 30 + ["ro2"] * 5 + ["ff1"] * 20 + ["ff2"] * 20 + ["ff3"] * 8 + ["fo"] * 40)
    y = (np.char.find(src, "f", 0, 1) == 0).astype(int)
    cells = np.where(np.char.find(src, "f", 1) == 1, "face", "other")
    w = balanced_weights(y, src, cells)
    share = {(c, k): w[(y == k) & (cells == c)].sum() / w[y == k].sum() for c in ("face", "other") for k in (0, 1)}
    # 4 of the 7 sources show faces: faces carry 4/7 of each class's weight, whatever the class's mix
    assert np.isclose(share["face", 0], 4 / 7) and np.isclose(share["face", 1], 4 / 7)
    assert np.isclose(w[y == 0].sum(), w[y == 1].sum()) and np.isclose(w.sum(), len(y))
    assert np.isclose(w[src == "ff1"].sum(), w[src == "ff3"].sum())  # sources within a cell stay equal
    assert np.isclose(w[src == "ro1"].sum(), w[src == "ro2"].sum())
    # one content for all rows is the plain source balance
    np.testing.assert_allclose(balanced_weights(y, src, np.full(len(y), "x")), balanced_weights(y, src))


def test_content_weights_renormalise_over_the_cells_a_class_has():
    src = np.array(["r"] * 5 + ["f1"] * 5 + ["f2"] * 5)
    y = np.array([0] * 5 + [1] * 10)
    cells = np.array(["other"] * 10 + ["face"] * 5)
    w = balanced_weights(y, src, cells)
    assert np.isclose(w[y == 0].sum(), w[y == 1].sum())  # reals have no face cell: their half stays whole
    assert np.isclose(w[src == "f2"].sum() / w[y == 1].sum(), 1 / 3)  # 1 of the 3 sources shows faces


def test_columns_in_selects_the_stored_layout():
    stored = FeatureSpec((4, 5, 6), (4, 5, 6), "resize224")
    spec = FeatureSpec((6,), (5,), "resize224")
    hidden = _hidden(2, stored.blocks)
    np.testing.assert_array_equal(stored.summarise(hidden)[:, spec.columns_in(stored)], spec.summarise(hidden))
    with pytest.raises(KeyError):
        FeatureSpec((9,), (), "resize224").columns_in(stored)

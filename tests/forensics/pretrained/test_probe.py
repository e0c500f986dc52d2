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


def test_columns_in_selects_the_stored_layout():
    stored = FeatureSpec((4, 5, 6), (4, 5, 6), "resize224")
    spec = FeatureSpec((6,), (5,), "resize224")
    hidden = _hidden(2, stored.blocks)
    np.testing.assert_array_equal(stored.summarise(hidden)[:, spec.columns_in(stored)], spec.summarise(hidden))
    with pytest.raises(KeyError):
        FeatureSpec((9,), (), "resize224").columns_in(stored)

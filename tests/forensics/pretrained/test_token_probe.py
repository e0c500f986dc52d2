import numpy as np
import pytest

from forensics.pretrained.clip_encoder import GRID, WIDTH
from forensics.pretrained.token_probe import TokenProbe, fit_token_probe


def _tokens(n, fake_tokens, seed=0):
    """Images of 196 tokens; a fake image has `fake_tokens` tokens shifted along one direction (a local artifact)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, GRID * GRID, WIDTH)).astype(np.float32)
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)]
    for i in np.flatnonzero(y):
        x[i, rng.choice(GRID * GRID, fake_tokens, replace=False), 0] += 6.0
    return x, y


def test_fit_finds_the_artifact_direction_and_topk_keeps_a_local_artifact_a_mean_dilutes():
    x, y = _tokens(120, fake_tokens=5)
    probe = fit_token_probe(x, y, np.ones(len(y)), (6,), per_image=64, l2=1e-2)
    assert int(np.argmax(np.abs(probe.coef))) == 0 and probe.coef[0] > 0
    # a probe that reads only that direction: the top 5% of tokens separate the classes, the mean barely
    ideal = TokenProbe((6,), np.zeros(WIDTH, np.float32), np.ones(WIDTH, np.float32),
                       np.eye(WIDTH, dtype=np.float32)[0], 0.0)
    tl = ideal.token_logits(x)

    def separation(scores):
        within = np.sqrt((scores[y == 1].var() + scores[y == 0].var()) / 2)
        return (scores[y == 1].mean() - scores[y == 0].mean()) / within

    assert separation(ideal.aggregate(tl, 0.05)) > 1.5 * separation(ideal.aggregate(tl, 1.0))


def test_token_map_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    probe = TokenProbe((4, 6), rng.normal(size=2 * WIDTH).astype(np.float32), np.full(2 * WIDTH, 2.0, np.float32),
                       rng.normal(size=2 * WIDTH).astype(np.float32), 0.5, 0.25)
    hidden = {b: rng.normal(size=(2, 1 + GRID * GRID, WIDTH)).astype(np.float32) for b in (4, 6)}
    tmap = probe.token_map(hidden)
    assert tmap.shape == (2, GRID, GRID)
    direct = ((np.concatenate([hidden[4][:, 1:], hidden[6][:, 1:]], axis=2) - probe.mean) / probe.scale) @ probe.coef + 0.5
    np.testing.assert_allclose(tmap.reshape(2, -1), direct, rtol=1e-3, atol=1e-3)
    probe.save(tmp_path / "p.safetensors")
    back = TokenProbe.load(tmp_path / "p.safetensors", (4, 6), 0.25)
    np.testing.assert_allclose(back.token_map(hidden), tmap, rtol=1e-5)
    with pytest.raises(ValueError):
        TokenProbe.load(tmp_path / "p.safetensors", (4,), 0.25)

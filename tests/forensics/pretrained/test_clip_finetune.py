"""Training CLIP's blocks above a stored block (clip_finetune), on a real ClipVisionTower with random
weights: the module reads the probe it starts from exactly, and training on stored states moves it."""
import numpy as np
import pytest
import torch

from sklearn.metrics import average_precision_score as average_precision
from forensics.pretrained.clip_encoder import WIDTH
from forensics.pretrained.clip_finetune import LORA_LAYERS, LoraLinear, TunedBlocks, TuneSchedule, score, tune
from forensics.pretrained.clip_torch import ClipVisionTower
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.probe import LinearProbe, balanced_weights, fit_probe


@pytest.fixture(scope="module")
def tower():
    torch.manual_seed(0)
    return ClipVisionTower(3).eval()


def _states(n=48, tokens=12, seed=0):
    """Stored states of two classes that differ by a shift of a few channels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, tokens, WIDTH)).astype(np.float32)
    y = np.arange(n) % 2
    x[y == 1, :, :16] += 0.5
    return x, y


def _probe(model_feats, y):
    return fit_probe(model_feats, y, FeatureSpec((1, 2)), l2=1e-2, max_iter=50)


def _blank():
    return LinearProbe(FeatureSpec((1, 2)), np.zeros(2 * WIDTH, np.float32), np.ones(2 * WIDTH, np.float32),
                       np.zeros(2 * WIDTH, np.float32), 0.0)


def test_starts_as_the_probe_on_recomputed_block_means(tower):
    x, y = _states()
    with torch.no_grad():
        feats = TunedBlocks(tower, 2, 2, _blank()).features(torch.from_numpy(x)).numpy()
    # block 1's mean (the stored block) and block 2's mean, computed by the tower's own block 2
    assert feats.shape == (len(x), 2 * WIDTH)
    np.testing.assert_allclose(feats[:, :WIDTH], x.mean(axis=1), atol=1e-5)
    with torch.no_grad():
        want = tower.blocks[2](torch.from_numpy(x)).mean(dim=1).numpy()
    np.testing.assert_allclose(feats[:, WIDTH:], want, atol=1e-4)
    probe = _probe(feats, y)
    model = TunedBlocks(tower, 2, 2, probe)
    np.testing.assert_allclose(score(model, lambda r: x[r], np.arange(len(x)), batch=5), probe.logits(feats),
                               rtol=1e-4, atol=1e-3)


def test_rejects_blocks_the_tower_or_the_probe_lacks(tower):
    probe = LinearProbe(FeatureSpec((1, 2)), *(np.ones(2 * WIDTH, np.float32),) * 3, 0.0)
    with pytest.raises(ValueError, match="not above a stored block"):
        TunedBlocks(tower, 0, 1, probe)
    with pytest.raises(ValueError, match="not above a stored block"):
        TunedBlocks(tower, 2, 3, probe)
    with pytest.raises(ValueError, match="reads 1536 features"):
        TunedBlocks(tower, 1, 2, probe)


def test_training_lowers_the_loss_and_moves_the_blocks(tower):
    x, y = _states(n=64, seed=1)
    x_test, y_test = _states(n=64, seed=2)
    with torch.no_grad():
        start = TunedBlocks(tower, 2, 2, _blank()).features(torch.from_numpy(x)).numpy()
    # a deliberately weak start: the probe fitted on 8 rows
    model = TunedBlocks(tower, 2, 2, _probe(start[:8], y[:8]))
    before = model.blocks[0].fc1.weight.detach().clone()
    ap_before = average_precision(y_test, score(model, lambda r: x_test[r], np.arange(len(x_test))))
    losses = tune(model, lambda r: x[r], y, balanced_weights(y, np.zeros(len(y))),
                  TuneSchedule(epochs=6, batch=16, tokens=8, block_lr=1e-4, head_lr=1e-2))
    assert len(losses) == 10 and np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert not torch.equal(before, model.blocks[0].fc1.weight)
    assert not model.training  # left ready to score
    ap_after = average_precision(y_test, score(model, lambda r: x_test[r], np.arange(len(x_test))))
    assert ap_after > max(ap_before, 0.8)


def test_lora_starts_as_the_frozen_blocks_and_trains_only_its_updates(tower):
    x, y = _states(n=64, seed=3)
    x_test, y_test = _states(n=64, seed=4)
    with torch.no_grad():
        start = TunedBlocks(tower, 2, 2, _blank()).features(torch.from_numpy(x)).numpy()
    probe = _probe(start[:8], y[:8])
    full, lora = TunedBlocks(tower, 2, 2, probe), TunedBlocks(tower, 2, 2, probe, lora_rank=4)
    everything = np.arange(len(x_test))
    # the updates start at zero: the same logits as the copied blocks
    np.testing.assert_allclose(score(lora, lambda r: x_test[r], everything),
                               score(full, lambda r: x_test[r], everything), rtol=1e-5, atol=1e-5)
    trainable = {n for n, p in lora.blocks.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith((".down", ".up")) for n in trainable)
    assert len(trainable) == 2 * len(LORA_LAYERS)
    frozen = lora.blocks[0].fc1.base.weight.detach().clone()
    ap_before = average_precision(y_test, score(lora, lambda r: x_test[r], everything))
    losses = tune(lora, lambda r: x[r], y, balanced_weights(y, np.zeros(len(y))),
                  TuneSchedule(epochs=6, batch=16, tokens=8, block_lr=1e-3, head_lr=1e-2))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert torch.equal(frozen, lora.blocks[0].fc1.base.weight)  # the CLIP weights never move
    assert lora.blocks[0].fc1.up.abs().sum() > 0
    assert average_precision(y_test, score(lora, lambda r: x_test[r], everything)) > max(ap_before, 0.8)


def test_lora_rejects_a_rank_below_one():
    with pytest.raises(ValueError, match="rank must be at least 1"):
        LoraLinear(torch.nn.Linear(4, 4), 0)

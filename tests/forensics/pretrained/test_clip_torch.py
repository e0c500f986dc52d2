"""The PyTorch port of CLIP's image tower against the float32 ONNX graph it is built from (skipped where
the CLIP file was never fetched)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from forensics.pretrained.clip_encoder import ClipEncoder, graph_path, make_view, normalise
from forensics.pretrained.clip_torch import ClipVisionTower


def test_torch_tower_gives_the_float32_graphs_token_states(clip_path, photos):
    encoder = ClipEncoder((4, 6), path=clip_path, precision="float32")
    tower = ClipVisionTower.from_graph(encoder.graph)
    assert len(tower.blocks) == 7  # blocks 0-6: the graph is cut after block 6
    views = np.stack([make_view(im, "resize224")[0] for im in list(photos.values())[:3]])
    want = encoder.hidden_states(views)
    with torch.no_grad():
        got = tower(torch.from_numpy(normalise(views)), (4, 6))
    assert set(got) == {4, 6}
    for b in (4, 6):
        g = got[b].numpy()
        assert g.shape == want[b].shape == (3, 197, 768)
        # float32 rounding only: the residual stream grows to |x| ~ 40 by block 6
        assert np.abs(g - want[b]).max() <= 1e-5 * np.abs(want[b]).max() * 100


def test_torch_tower_trains(clip_path, photos):
    """The point of the port: gradients reach CLIP's weights down to the first block, and a step moves them."""
    tower = ClipVisionTower.from_graph(graph_path(Path(clip_path), (4,), "float32"))
    views = np.stack([make_view(im, "resize224")[0] for im in list(photos.values())[:2]])
    x = torch.from_numpy(normalise(views))
    before = tower.blocks[4].fc2.weight.detach().clone()
    opt = torch.optim.SGD(tower.blocks[4].parameters(), lr=1e-3)
    loss = tower(x, (4,))[4][:, 1:].mean(dim=(1, 2)).square().sum()
    loss.backward()
    first = tower.blocks[0].fc1.weight.grad
    assert first is not None and torch.isfinite(first).all() and first.abs().sum() > 0
    opt.step()
    assert not torch.equal(before, tower.blocks[4].fc2.weight)


def test_an_int8_graph_is_refused(clip_path):
    with pytest.raises(ValueError, match="float32"):
        ClipVisionTower.from_graph(graph_path(Path(clip_path), (4,), "int8"))

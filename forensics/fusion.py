"""Inference-time BatchNorm folding: each eval-mode BatchNorm2d that directly follows a Conv2d is
merged into the conv's weights and bias, which removes one full pass over every feature map.

ONNX Runtime does this itself when it loads a graph; this gives the PyTorch path (`forensics scan`,
GPU audits) the same saving. The folded network is checked against the original on a probe input
and the original is kept if they disagree, so an unusual module order can never change a score.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """(parent, conv name, bn name) for each eval-foldable BatchNorm2d registered right after a Conv2d."""
    pairs = []
    for parent in model.modules():
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = parent._modules[a], parent._modules[b]
            if (isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d and bn.track_running_stats
                    and bn.running_mean is not None and bn.num_features == conv.out_channels):
                pairs.append((parent, a, b))
    return pairs


@torch.no_grad()
def fold_batchnorm(model: nn.Module, *, probe_size: int = 64, tolerance: float = 1e-4) -> nn.Module:
    """An eval-mode copy of `model` with Conv2d+BatchNorm2d pairs folded, or `model` itself (in eval
    mode) when there is nothing to fold or the folded copy's output differs on a random probe by more
    than `tolerance` relative to the output's scale."""
    model = model.eval()
    param = next(model.parameters(), None)
    if param is None:
        return model
    if not _conv_bn_pairs(model):
        return model
    folded = copy.deepcopy(model)
    for parent, a, b in _conv_bn_pairs(folded):
        parent._modules[a] = fuse_conv_bn_eval(parent._modules[a], parent._modules[b])
        parent._modules[b] = nn.Identity()
    probe = torch.randn(2, 3, probe_size, probe_size, generator=torch.Generator().manual_seed(0))
    probe = probe.to(device=param.device, dtype=param.dtype)
    want, got = model(probe), folded(probe)
    scale = float(want.abs().max()) + 1e-6
    if want.shape != got.shape or float((want - got).abs().max()) > tolerance * max(1.0, scale):
        return model
    return folded

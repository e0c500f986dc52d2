"""Detector architectures built from timm backbones: truncated patch models and full baselines.

A patch model keeps a backbone up to an early stage and closes it with a 1x1 conv to 2 logits, so
each output cell is the real/fake logit of one receptive-field patch. Receptive field, stride and
offset are measured on the built network (gradient probing), not typed in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import timm
import torch
from timm.models.resnet import Bottleneck
from torch import nn

RESNETS = ("resnet18", "resnet34", "resnet50")
XCEPTIONS = ("legacy_xception", "xception41")
_STAGE_NAMES = {**{b: "layer" for b in RESNETS}, **{b: "block" for b in XCEPTIONS}}


@dataclass(frozen=True)
class ArchSpec:
    """A named architecture: backbone + cut stage (None for a full-image classifier); `slim` keeps
    only the first residual block of each kept ResNet stage (about half the compute of a layer2 cut);
    `neck` (`_slim_neck` names) adds `NECK_BLOCKS` narrow bottleneck residual blocks at the cut's
    resolution, about a tenth of the slim cut's compute, for more depth where the cells are read."""

    name: str
    backbone: str
    stage: int | None
    slim: bool = False
    neck: bool = False

    @property
    def is_patch(self) -> bool:
        return self.stage is not None


def list_architectures() -> list[str]:
    """All registered detector architecture names."""
    names = []
    for b in RESNETS + XCEPTIONS:
        names += [f"{b}_{_STAGE_NAMES[b]}{i}" for i in range(1, 5 if b in RESNETS else 6)]
        if b in RESNETS:
            names += [f"{b}_layer{i}_slim" for i in range(1, 5)]
            names += [f"{b}_layer{i}_slim_neck" for i in range(1, 5)]
        names.append(f"{b}_full")
    return names


def parse_arch(name: str) -> ArchSpec:
    """Parse `resnet18_layer2`, `resnet18_layer2_slim`, `resnet18_layer3_slim_neck`,
    `legacy_xception_block2`, `resnet50_full`; errors name the choices."""
    m = re.fullmatch(r"(.+?)_(?:(layer|block)(\d)(_slim)?(_neck)?|full)", name)
    if not m or name not in list_architectures():
        raise ValueError(f"unknown architecture '{name}'; choose one of: {', '.join(list_architectures())}")
    backbone = m.group(1)
    stage = int(m.group(3)) if m.group(3) else None
    return ArchSpec(name=name, backbone=backbone, stage=stage, slim=bool(m.group(4)), neck=bool(m.group(5)))


class NeighbourResidual(nn.Module):
    """Fixed high-pass input filter: each pixel minus the mean of its 8 neighbours (per channel)."""

    def __init__(self, gain: float = 4.0) -> None:
        super().__init__()
        k = -torch.ones(3, 3) / 8.0
        k[1, 1] = 1.0
        self.register_buffer("kernel", (k * gain).expand(3, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
        return nn.functional.conv2d(x, self.kernel, groups=3)


def _legacy_xception_trunk(stage: int) -> nn.Module:
    full = timm.create_model("legacy_xception", pretrained=False, num_classes=0)
    stem = [full.conv1, full.bn1, full.act1, full.conv2, full.bn2, full.act2]
    blocks = [getattr(full, f"block{i}") for i in range(1, stage + 1)]
    return nn.Sequential(*stem, *blocks)


NECK_BLOCKS = 2  # bottleneck blocks in a `_neck` architecture


def residual_neck(channels: int, blocks: int = NECK_BLOCKS) -> nn.Sequential:
    """`blocks` timm Bottleneck blocks of `channels` in and out, `channels // 2` wide inside. Their last
    BatchNorm starts at zero, so on a trunk that ends in a ReLU each block starts as the identity: a
    neck added to a trained detector (warm start) begins with exactly that detector's outputs."""
    if channels % 4:
        raise ValueError(f"a residual neck needs channels divisible by 4, got {channels}")
    neck = nn.Sequential(*[Bottleneck(channels, channels // 4, base_width=128) for _ in range(blocks)])
    for block in neck:
        block.zero_init_last()
    return neck


class _FeatureTrunk(nn.Module):
    """timm features_only model returning the single requested stage as a tensor (then the neck, if any)."""

    def __init__(self, backbone: str, index: int, slim: bool = False, neck: bool = False) -> None:
        super().__init__()
        self.body = timm.create_model(backbone, pretrained=False, features_only=True, out_indices=(index,))
        if slim:  # keep the first (downsampling) block of each residual stage
            for k in range(1, index + 1):
                setattr(self.body, f"layer{k}", getattr(self.body, f"layer{k}")[:1])
        self.neck = residual_neck(self.body.feature_info.channels()[-1]) if neck else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(x)[0]
        return features if self.neck is None else self.neck(features)


def build_trunk(spec: ArchSpec) -> nn.Module:
    """The truncated backbone for a patch model (later stages are not instantiated/kept)."""
    assert spec.stage is not None
    if spec.backbone == "legacy_xception":
        return _legacy_xception_trunk(spec.stage)
    # resnets: feature index k is layer k; xception41: feature index k-1 is block k
    index = spec.stage if spec.backbone in RESNETS else spec.stage - 1
    return _FeatureTrunk(spec.backbone, index, slim=spec.slim, neck=spec.neck)


def _out_channels(trunk: nn.Module) -> int:
    with torch.no_grad():
        was = trunk.training
        trunk.eval()
        c = trunk(torch.zeros(1, 3, 64, 64)).shape[1]
        trunk.train(was)
    return int(c)


class CellMLP(nn.Module):
    """A per-cell two-layer head (1x1 conv, BatchNorm, ReLU, 1x1 conv to 2 logits) added to the linear
    head's logits. Its last layer starts at zero, so a model warm-started from a linear-head detector
    begins with exactly that detector's outputs and the branch only adds what training teaches it."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, hidden, kernel_size=1, bias=False), nn.BatchNorm2d(hidden),
                                  nn.ReLU(inplace=True), nn.Conv2d(hidden, 2, kernel_size=1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(features)


class PatchClassifier(nn.Module):
    """Truncated backbone + 1x1 conv: maps (N,3,H,W) to per-cell logits (N,2,h,w). With `head_hidden`
    > 0, a per-cell MLP of that width (`CellMLP`) is added to the 1x1 conv's logits."""

    def __init__(self, arch: str, input_filter: str = "none", head_hidden: int = 0) -> None:
        super().__init__()
        self.spec = parse_arch(arch)
        self.arch = arch
        self.input_filter = input_filter
        self.head_hidden = int(head_hidden)
        if self.head_hidden < 0:
            raise ValueError(f"head_hidden must be >= 0, got {head_hidden}")
        if self.head_hidden and not self.spec.is_patch:
            raise ValueError(f"head_hidden needs a patch model; {arch} is a full-image classifier")
        self.prefilter = _make_prefilter(input_filter)
        self.head_mlp: CellMLP | None = None
        if self.spec.is_patch:
            self.trunk = build_trunk(self.spec)
            channels = _out_channels(self.trunk)
            self.head = nn.Conv2d(channels, 2, kernel_size=1)
            if self.head_hidden:
                self.head_mlp = CellMLP(channels, self.head_hidden)
            self.classifier = None
        else:
            self.trunk = None
            self.head = None
            self.classifier = timm.create_model(self.spec.backbone, pretrained=False, num_classes=2)
        self._geometry: tuple[int, int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.classifier is not None:
            return self.classifier(self.prefilter(x))[:, :, None, None]
        return self.head_logits(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """A patch model's trunk output (N, C, h, w): what its head(s) read, one C-vector per cell."""
        return self.trunk(self.prefilter(x))

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Per-cell logits (N, 2, h, w) from trunk features: the 1x1 head plus the MLP head, if any."""
        logits = self.head(features)
        return logits if self.head_mlp is None else logits + self.head_mlp(features)

    @property
    def is_patch(self) -> bool:
        return self.spec.is_patch

    def geometry(self) -> tuple[int, int, int]:
        """(receptive_field, stride, offset) in pixels; offset is where cell 0's window starts."""
        if self._geometry is None:
            self._geometry = measure_geometry(self.arch, self.input_filter)
        return self._geometry

    @property
    def receptive_field(self) -> int:
        return self.geometry()[0]

    @property
    def stride(self) -> int:
        return self.geometry()[1]


def _make_prefilter(input_filter: str) -> nn.Module:
    if input_filter == "none":
        return nn.Identity()
    if input_filter == "residual":
        return NeighbourResidual()
    raise ValueError(f"unknown input filter '{input_filter}' (use none or residual)")


def build_model(arch: str, input_filter: str = "none", head_hidden: int = 0) -> PatchClassifier:
    """Build a detector network by registry name (random init; weights come from checkpoints)."""
    return PatchClassifier(arch, input_filter=input_filter, head_hidden=head_hidden)


def build_from_config(cfg: dict) -> PatchClassifier:
    """The network a saved detector's config.json describes (arch, input filter, head width)."""
    return build_model(cfg["arch"], cfg.get("input_filter") or "none", int(cfg.get("head_hidden") or 0))


@lru_cache(maxsize=None)
def measure_geometry(arch: str, input_filter: str = "none", probe: int = 320) -> tuple[int, int, int]:
    """Measure receptive field, stride and offset of one output cell by gradient probing."""
    spec = parse_arch(arch)
    if not spec.is_patch:
        return (0, 0, 0)
    torch.manual_seed(0)
    net = build_model(arch, input_filter).eval()
    for m in net.modules():  # zero-initialised residual BNs would hide the residual paths
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
            nn.init.ones_(m.weight)
    x = torch.randn(4, 3, probe, probe, requires_grad=True)
    out = net(x)
    h, w = out.shape[2:]
    i0, j0 = h // 2, w // 2
    out[:, 1, i0, j0].sum().backward()
    g = x.grad.abs().sum(dim=(0, 1))
    rows = torch.nonzero(g.sum(dim=1) > 0).flatten()
    cols = torch.nonzero(g.sum(dim=0) > 0).flatten()
    rf = int(max(rows[-1] - rows[0], cols[-1] - cols[0]).item()) + 1
    stride = int(round(probe / h))
    offset = int(cols[0].item()) - j0 * stride
    return (rf, stride, offset)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


ArchBuilder = Callable[[str], nn.Module]

"""CLIP ViT-B/16's image tower as a PyTorch module, built from the float32 rewrite of the INT8 graph.

The ONNX graph runs only forward, on ONNX Runtime. The same dequantised weights in a `torch.nn.Module`
run on any torch device and can be trained: the module is the starting point for fine-tuning CLIP's
blocks on patches (reports/fused/selection.md, "Where this stands"). Its token states match the
float32 graph's (`tests/forensics/pretrained/test_clip_torch.py`).

    model = ClipVisionTower.from_graph(graph_path(clip_file.locate(None), (4, 5, 6), "float32"))
    states = model(torch.from_numpy(normalise(views)))   # {4: (N, 197, 768), 5: ..., 6: ...}
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

from forensics.pretrained.clip_encoder import GRID, PATCH, WIDTH, block_output

HEADS = 12
MLP = 4 * WIDTH
LN_EPS = 1e-5
_MATMUL = re.compile(r"/vision_model/encoder/layers\.(\d+)/(self_attn/[qkv]_proj|self_attn/out_proj|mlp/fc1|mlp/fc2)/MatMul")


class QuickGELU(nn.Module):
    """OpenAI CLIP's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ClipBlock(nn.Module):
    """One pre-norm transformer block of the CLIP vision tower."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.q = nn.Linear(WIDTH, WIDTH)
        self.k = nn.Linear(WIDTH, WIDTH)
        self.v = nn.Linear(WIDTH, WIDTH)
        self.out = nn.Linear(WIDTH, WIDTH)
        self.norm2 = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.fc1 = nn.Linear(WIDTH, MLP)
        self.act = QuickGELU()
        self.fc2 = nn.Linear(MLP, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        h = self.norm1(x)
        q, k, v = (proj(h).view(n, t, HEADS, WIDTH // HEADS).transpose(1, 2) for proj in (self.q, self.k, self.v))
        attn = nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.out(attn.transpose(1, 2).reshape(n, t, WIDTH))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class ClipVisionTower(nn.Module):
    """Patch embedding, class and position embeddings, pre-norm and the first `depth` blocks; returns the
    residual stream after each requested block, as the cut ONNX graph does."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, WIDTH, PATCH, stride=PATCH, bias=False)
        self.cls = nn.Parameter(torch.zeros(WIDTH))
        self.pos = nn.Parameter(torch.zeros(GRID * GRID + 1, WIDTH))
        self.pre_norm = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.blocks = nn.ModuleList(ClipBlock() for _ in range(depth))

    def forward(self, pixels: torch.Tensor, blocks: Sequence[int] | None = None) -> dict[int, torch.Tensor]:
        """(N, 3, 224, 224) normalised pixels -> {block: (N, 197, 768)}; every block by default."""
        wanted = set(range(len(self.blocks)) if blocks is None else blocks)
        if wanted and max(wanted) >= len(self.blocks):
            raise ValueError(f"this tower has blocks 0-{len(self.blocks) - 1}, not {max(wanted)}")
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), 1, WIDTH), x], dim=1) + self.pos
        x = self.pre_norm(x)
        out = {}
        for i, block in enumerate(self.blocks[:max(wanted) + 1] if wanted else []):
            x = block(x)
            if i in wanted:
                out[i] = x
        return out

    @classmethod
    def from_graph(cls, graph: Union[str, Path]) -> "ClipVisionTower":
        """The tower up to the deepest block a float32 CLIP graph (`clip_encoder.graph_path(..., "float32")`)
        computes, with that graph's weights. A ValueError names what the graph lacks."""
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(graph))
        init = {t.name: t for t in model.graph.initializer}
        weights: dict[str, np.ndarray] = {}
        for node in model.graph.node:
            m = _MATMUL.match(node.name)
            if node.op_type == "MatMul" and m:
                w = [i for i in node.input if i in init]
                if len(w) != 1:
                    raise ValueError(f"{graph}: {node.name} has no float weight; build the graph with precision float32")
                weights[f"{m.group(1)}/{m.group(2)}"] = numpy_helper.to_array(init[w[0]])
        outputs = {o.name for o in model.graph.output}
        depth = 1 + max((int(k.split("/")[0]) for k in weights), default=-1)
        if depth == 0 or block_output(depth - 1) not in outputs:
            raise ValueError(f"{graph}: not a float32 CLIP graph cut after a block")

        def arr(name: str) -> torch.Tensor:
            if name not in init:
                raise ValueError(f"{graph}: lacks {name}")
            return torch.from_numpy(numpy_helper.to_array(init[name]).astype(np.float32).copy())

        tower = cls(depth)
        pre = "vision_model."
        state = {"patch.weight": arr(pre + "embeddings.patch_embedding.weight"),
                 "cls": arr(pre + "embeddings.class_embedding"),
                 "pos": arr(pre + "embeddings.position_embedding.weight"),
                 "pre_norm.weight": arr(pre + "pre_layrnorm.weight"), "pre_norm.bias": arr(pre + "pre_layrnorm.bias")}
        names = {"q": "self_attn/q_proj", "k": "self_attn/k_proj", "v": "self_attn/v_proj", "out": "self_attn/out_proj",
                 "fc1": "mlp/fc1", "fc2": "mlp/fc2"}
        for i in range(depth):
            layer = f"{pre}encoder.layers.{i}."
            for mine, theirs in names.items():
                key = f"{i}/{theirs}"
                if key not in weights:
                    raise ValueError(f"{graph}: block {i} lacks {theirs}")
                state[f"blocks.{i}.{mine}.weight"] = torch.from_numpy(weights[key].astype(np.float32).T.copy())
                state[f"blocks.{i}.{mine}.bias"] = arr(layer + theirs.replace("/", ".") + ".bias")
            for mine, theirs in (("norm1", "layer_norm1"), ("norm2", "layer_norm2")):
                state[f"blocks.{i}.{mine}.weight"] = arr(f"{layer}{theirs}.weight")
                state[f"blocks.{i}.{mine}.bias"] = arr(f"{layer}{theirs}.bias")
        tower.load_state_dict(state)
        return tower.eval()

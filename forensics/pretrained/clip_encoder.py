"""A truncated CLIP ViT-B/16 image encoder: the ONNX graph cut after an intermediate block, run with
ONNX Runtime, giving per-block token states of one fixed view of each image.

Published work (and our own measurement, reports/default_model.md) finds intermediate blocks carry
more forensic signal than the final embedding, so the graph is cut (`onnx.utils.Extractor`) right after
the deepest block a feature set needs: later blocks are never computed. With precision "float32" the cut
graph's quantised matrix products are rewritten in float (`clip_dequantize`). The derived graph is cached
beside the encoder file (or in the user cache when that folder is read-only).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image

from forensics.fileio import replaced_atomically
from forensics.pretrained import clip_file
from forensics.pretrained.clip_dequantize import PRECISIONS, dequantize_graph

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
INPUT = "pixel_values"
SIZE = 224
PATCH = 16
GRID = SIZE // PATCH  # 14 x 14 patch tokens
WIDTH = 768
N_BLOCKS = 12
VIEWS = ("resize224", "crop224")


def block_output(i: int) -> str:
    """Graph tensor holding the residual stream after transformer block i (0-11), [B, 197, 768]."""
    if not 0 <= i < N_BLOCKS:
        raise ValueError(f"CLIP ViT-B/16 has blocks 0-{N_BLOCKS - 1}, not {i}")
    return "onnx::Gather_1524" if i == N_BLOCKS - 1 else f"/vision_model/encoder/layers.{i}/Add_1_output_0"


@dataclass(frozen=True)
class ViewBox:
    """How a 224 px view maps back to the image: view pixel (x, y) -> image (x0 + x * scale, y0 + y * scale)."""

    x0: float
    y0: float
    scale: float

    def token_box(self, r: int, c: int, width: int, height: int) -> tuple[int, int, int, int]:
        """Image window (x0, y0, x1, y1) of patch token (r, c), clipped to the image."""
        x0 = self.x0 + c * PATCH * self.scale
        y0 = self.y0 + r * PATCH * self.scale
        side = PATCH * self.scale
        return (max(0, int(x0)), max(0, int(y0)), min(width, int(round(x0 + side))), min(height, int(round(y0 + side))))


def make_view(rgb: np.ndarray, view: str) -> tuple[np.ndarray, ViewBox]:
    """One 224 px RGB view of an image and its map back to image pixels.

    - "resize224": shorter side resized to 224 (bicubic, as CLIP was trained), centre crop;
    - "crop224": centre 224 px crop at native resolution (pixels untouched); images with a shorter
      side under 224 are first enlarged to 224 (bicubic)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
    h, w = rgb.shape[:2]
    scale = 1.0
    img = rgb
    short = min(h, w)
    if view == "resize224" or short < SIZE:
        scale = short / SIZE
        nw, nh = max(SIZE, round(w / scale)), max(SIZE, round(h / scale))
        img = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC))
    hh, ww = img.shape[:2]
    top, left = (hh - SIZE) // 2, (ww - SIZE) // 2
    crop = img[top:top + SIZE, left:left + SIZE]
    return np.ascontiguousarray(crop), ViewBox(x0=left * scale, y0=top * scale, scale=scale)


def normalise(views: np.ndarray) -> np.ndarray:
    """(N, 224, 224, 3) uint8 -> (N, 3, 224, 224) float32 with CLIP's mean and std."""
    x = views.astype(np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def graph_path(source: Path, blocks: Sequence[int], precision: str = "int8") -> Path:
    """The cached derived graph: `source` cut after `blocks`, in `precision` (built on first use)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown CLIP precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    key = "-".join(str(b) for b in sorted(set(blocks)))
    suffix = "" if precision == "int8" else f".{precision}"
    out = source.with_name(f"{source.stem}.cut-{key}{suffix}.onnx")
    for candidate in (out, clip_file.cache_dir() / out.name):
        if candidate.is_file() and candidate.stat().st_mtime >= source.stat().st_mtime:
            return candidate
    import onnx
    from onnx.utils import Extractor

    model = onnx.load(str(source))
    sub = Extractor(model).extract_model([INPUT], [block_output(b) for b in sorted(set(blocks))])
    if precision == "float32":
        dequantize_graph(sub)
    error: Optional[OSError] = None
    for target in (out, clip_file.cache_dir() / out.name):  # a read-only folder: keep it in the user cache
        try:
            with replaced_atomically(target) as tmp:
                onnx.save(sub, tmp)
            return target
        except OSError as e:
            error = e
    raise clip_file.PretrainedFileError(f"cannot write the derived CLIP graph {out.name} beside {source} "
                                        f"or in {clip_file.cache_dir()}: {error}")


def execution_providers(device: str = "cpu") -> list[str]:
    """ONNX Runtime providers for `device`: CUDA first when a CUDA device is asked for and the installed
    onnxruntime has it (the `onnxruntime-gpu` package), else the CPU."""
    import onnxruntime as ort

    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class _OnnxRunner:
    """The cut graph in an ONNX Runtime session (CPU, or CUDA with `onnxruntime-gpu`)."""

    backend = "onnxruntime"

    def __init__(self, graph: Path, providers: list[str], threads: Optional[int], precision: str) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 16)
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(graph), opts, providers=providers)
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        # the INT8 graph quantises activations over the whole input tensor: one image per run (see hidden_states)
        self.step = 1 if precision == "int8" else 0

    def __call__(self, x: np.ndarray, blocks: tuple[int, ...]) -> dict[int, np.ndarray]:
        names = [block_output(b) for b in blocks]
        step = self.step or max(1, len(x))
        per_image = [self.session.run(names, {INPUT: x[i:i + step]}) for i in range(0, len(x), step)]
        return {b: np.concatenate([outs[k] for outs in per_image]).astype(np.float32, copy=False)
                for k, b in enumerate(blocks)}


class _TorchRunner:
    """The float32 graph's weights as a torch module on a CUDA device (where onnxruntime has no CUDA)."""

    backend = "torch"

    def __init__(self, graph: Path, device: str) -> None:
        from forensics.pretrained.clip_torch import ClipVisionTower

        self.device = str(device)
        self.tower = ClipVisionTower.from_graph(graph).to(self.device)

    def __call__(self, x: np.ndarray, blocks: tuple[int, ...]) -> dict[int, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.tower(torch.from_numpy(x).to(self.device), blocks)
        return {b: out[b].float().cpu().numpy() for b in blocks}


def _runner(graph: Path, device: str, threads: Optional[int], precision: str) -> Union[_OnnxRunner, _TorchRunner]:
    """ONNX Runtime where it has the asked device; torch for the float32 graph on CUDA when only torch has
    CUDA; else ONNX Runtime on the CPU."""
    providers = execution_providers(device)
    if str(device).startswith("cuda") and providers[0] != "CUDAExecutionProvider" and precision == "float32":
        import torch

        if torch.cuda.is_available():
            return _TorchRunner(graph, device)
    return _OnnxRunner(graph, providers, threads, precision)


class ClipEncoder:
    """Per-block token states of CLIP ViT-B/16, graph cut after the deepest requested block."""

    def __init__(self, blocks: Sequence[int], *, path: Union[str, Path, None] = None,
                 threads: Optional[int] = None, precision: str = "int8", device: str = "cpu") -> None:
        self.blocks = tuple(sorted(set(int(b) for b in blocks)))
        if not self.blocks:
            raise ValueError("ClipEncoder needs at least one block")
        self.precision = precision
        self.source = clip_file.locate(path)
        self.graph = graph_path(self.source, self.blocks, precision)
        self._run = _runner(self.graph, device, threads, precision)
        self.device, self.backend = self._run.device, self._run.backend

    def hidden_states(self, views: np.ndarray) -> dict[int, np.ndarray]:
        """(N, 224, 224, 3) uint8 views -> {block: (N, 197, 768) float32}; token 0 is CLS.

        The INT8 graph runs images one at a time: it quantises activations with a range taken over the
        whole input tensor, so in a batch one image's features would depend on the others' (measured: one
        photo's probe score 0.95 in a batch of three, 0.67 alone). The float32 graph has no such coupling
        and runs the batch at once."""
        return self._run(normalise(views), self.blocks)

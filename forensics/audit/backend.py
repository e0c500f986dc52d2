"""Inference backends for audits: PyTorch (always there) or ONNX Runtime (optional, faster on CPU).

`benchmarks/performance.py` measured ONNX Runtime at 2-5x PyTorch eager for the shipped models on
CPU (see reports/performance.md), so `backend="auto"` uses it on CPU when `onnxruntime` and `onnx`
are installed (`pip install 'forensics[onnx]'`) and falls back to PyTorch otherwise. The network is
exported once per weights file and cached (`$FORENSICS_CACHE`, default `~/.cache/forensics`);
preprocessing, aggregation, thresholds and records are those of `Detector`, only the forward pass
changes, and scores agree with PyTorch to about 1e-6. The exported graph takes the decoded uint8
(N,H,W,3) batch itself: the layout change and normalisation run inside ONNX Runtime (fused,
multi-threaded) instead of as separate PyTorch passes over the batch.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import io
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from forensics.detector import Detector
from forensics.fileio import write_atomically
from forensics.preprocess import Preprocessing

BACKENDS = ("auto", "torch", "onnx")
ONNX_MISSING = "--backend onnx needs ONNX Runtime: pip install 'forensics[onnx]' (onnxruntime and onnx)"
OPSET = 17
INPUT_LAYOUT = "uint8-nhwc"  # part of the cache key: graphs exported with another input are not reused


def onnx_available() -> bool:
    """Both the runtime and the exporter's dependency are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def cache_dir() -> Path:
    """Where exported ONNX files are kept: $FORENSICS_CACHE/onnx or ~/.cache/forensics/onnx."""
    root = os.environ.get("FORENSICS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "forensics")
    return Path(root) / "onnx"


def _weights_key(det: Detector) -> str:
    """Hash of architecture, input filter, every weight, torch version and opset."""
    h = hashlib.sha256()
    pre = det.preprocessing
    h.update(repr((det.config.get("arch"), det.config.get("input_filter"), torch.__version__, OPSET,
                   INPUT_LAYOUT, pre.mean, pre.std)).encode())
    for name, t in det.model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


class Uint8Input(torch.nn.Module):
    """uint8 (N,H,W,3) pixels -> the detector's normalised float (N,3,H,W) input -> its network."""

    def __init__(self, net: torch.nn.Module, pre: Preprocessing) -> None:
        super().__init__()
        self.net = net
        std = torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1)
        mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("shift", -mean / std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2).float() * self.scale + self.shift)


def export_onnx(det: Detector) -> bytes:
    """The detector's network, with its input normalisation, as ONNX bytes: input `x` is uint8
    (N,H,W,3) with dynamic batch, height and width; output `logits` is (N,2,h,w)."""
    net = copy.deepcopy(det.model).cpu().to(memory_format=torch.contiguous_format).eval()
    model = Uint8Input(net, det.preprocessing).eval()
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 64, 64, 3, dtype=torch.uint8),), buf, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "n", 1: "h", 2: "w"}},
                          opset_version=OPSET, dynamo=False)
    return buf.getvalue()


def cached_onnx(det: Detector) -> Any:
    """Path of the cached export (written atomically), or the bytes when the cache is not writable."""
    d = cache_dir()
    path = d / f"{det.config.get('arch')}-{_weights_key(det)}.onnx"
    if path.is_file():
        return str(path)
    data = export_onnx(det)
    try:
        write_atomically(path, data)
        return str(path)
    except OSError:
        return data


class OnnxDetector(Detector):
    """A `Detector` whose network runs in ONNX Runtime on CPU; everything else is inherited."""

    backend = "onnxruntime"

    def __init__(self, det: Detector, *, threads: Optional[int] = None) -> None:
        import onnxruntime as ort

        super().__init__(det.model, det.config, device=torch.device("cpu"), source=det.source)
        self.adopt_fusion(det)  # a fused detector keeps its pretrained branch, combiner and threshold
        self.model_id = det.model_id
        self.threshold = det.threshold
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(cached_onnx(det), opts, providers=["CPUExecutionProvider"])

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """(N,H,W,3) uint8 -> (N,h,w) fake logits / T, like `Detector._forward`."""
        logits = self.session.run(None, {"x": np.ascontiguousarray(batch, dtype=np.uint8)})[0]
        return ((logits[:, 1] - logits[:, 0]) / np.float32(self.temperature)).astype(np.float32, copy=False)


def select_backend(det: Detector, backend: str = "auto",
                   log: Callable[[str], None] = lambda m: None) -> Detector:
    """`det` itself (torch) or an `OnnxDetector` wrapping it; `auto` = ONNX Runtime on CPU if installed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    if backend == "torch" or isinstance(det, OnnxDetector):
        return det
    on_cpu = det.device.type == "cpu"
    if backend == "auto" and (not on_cpu or not onnx_available()):
        return det
    if backend == "onnx":
        if not onnx_available():
            raise RuntimeError(ONNX_MISSING)
        if not on_cpu:
            raise ValueError("--backend onnx runs on CPU; use --device cpu (or --backend torch on a GPU)")
    try:
        return OnnxDetector(det)
    except Exception as e:  # exporter or runtime problem: PyTorch still works
        if backend == "onnx":
            raise RuntimeError(f"ONNX Runtime backend failed: {type(e).__name__}: {e}") from None
        log(f"note: ONNX Runtime unavailable ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}); "
            "using PyTorch")
        return det

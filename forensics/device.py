"""One place that turns `auto|cpu|cuda[:N]` into a torch.device, and runs CUDA scoring in true fp32."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import torch

_PRECISION_LOCK = threading.RLock()


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve a device name; `auto` picks CUDA when available, else CPU."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' requested but CUDA is not available on this machine")
    if name not in ("cpu",) and not name.startswith("cuda") and name != "mps":
        raise ValueError(f"unknown device '{device}' (use auto, cpu or cuda)")
    return torch.device(name)


@contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Inside the block, CUDA convolutions run in true fp32 (no TF32); elsewhere a no-op.

    PyTorch lets cuDNN use TF32 by default. On an H200 that moved image scores by up to 3.5e-4 and
    flipped a verdict at the calibrated threshold (`reports/gpu_check.md`); in fp32 GPU scores match
    the CPU's to 1e-6. The previous setting is restored on exit (serialised across threads)."""
    if device.type != "cuda":
        yield
        return
    with _PRECISION_LOCK:
        previous = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32 = previous

"""One place that turns `auto|cpu|cuda[:N]` into a torch.device."""
from __future__ import annotations

import torch


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

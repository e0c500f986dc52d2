"""Small shared helpers: devices, image loading, per-image seeds, progress bars, hashing."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn `auto|cpu|cuda[:N]` into a torch.device; `auto` picks CUDA when available."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' requested but CUDA is not available on this machine")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device '{device}' (use auto, cpu or cuda)")
    return torch.device(name)


def list_images(folder: Path) -> list[Path]:
    """Image files directly or recursively under `folder`, sorted for reproducibility."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def center_square(img: Image.Image, resolution: int) -> np.ndarray:
    """Centre-crop to a square and resize (Lanczos) to `resolution`; returns uint8 HWC RGB."""
    img = img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.crop((left, top, left + s, top + s)).resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def load_images(images: str | Path | np.ndarray, resolution: int, limit: int | None = None) -> np.ndarray:
    """Folder path or uint8 NHWC array -> uint8 NHWC array at `resolution` (centre square crop)."""
    if isinstance(images, (str, Path)):
        folder = Path(images)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder not found: {folder}")
        files = list_images(folder)[:limit]
        if not files:
            raise ValueError(f"no images found in {folder}")
        out = np.empty((len(files), resolution, resolution, 3), np.uint8)
        for i, f in enumerate(files):
            with Image.open(f) as im:
                out[i] = center_square(im, resolution)
        return out
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected a uint8 array of shape (N, H, W, 3), got {arr.dtype} {arr.shape}")
    if arr.shape[1:3] != (resolution, resolution):
        arr = np.stack([center_square(Image.fromarray(a), resolution) for a in arr])
    return arr[:limit] if limit else arr


def derive_seed(seed: int, index: int) -> int:
    """Per-image seed from (run seed, image index): stable across runs, batch sizes and resumes."""
    digest = hashlib.sha256(f"{int(seed)}:{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU torch.Generator per image."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def randn(gens: Sequence[torch.Generator], shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """Stack per-image standard normals drawn on the CPU (same numbers on every device)."""
    return torch.stack([torch.randn(tuple(shape), generator=g) for g in gens]).to(device)


def rand(gens: Sequence[torch.Generator], shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """Stack per-image uniforms in [0, 1) drawn on the CPU."""
    return torch.stack([torch.rand(tuple(shape), generator=g) for g in gens]).to(device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW float tensor -> uint8 NHWC array."""
    x = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def batch_from(data: torch.Tensor, batch: int, device: torch.device, flip: bool = True) -> torch.Tensor:
    """Random minibatch from a uint8 NCHW CPU tensor, as float in [-1, 1] with random h-flips."""
    idx = torch.randint(len(data), (batch,))
    x = data[idx].to(device).float().div_(127.5).sub_(1.0)
    if flip:
        mask = torch.rand(batch, device=device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def config_hash(family: str, config: dict) -> str:
    """Short stable hash of a family name and its config fields."""
    blob = json.dumps({"family": family, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def state_hash(state: dict[str, torch.Tensor]) -> str:
    """Short hash of a state dict as it is stored (float tensors in fp16)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu()
        if t.is_floating_point():
            t = t.half()
        h.update(k.encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator:
    """A rich progress bar on stderr; yields `advance(n=1, **fields)`. Silent when disabled or not a TTY,
    except that GENERATORS_LOG_EVERY=N prints a plain line every N steps (for background training logs)."""
    if not enabled or not sys.stderr.isatty():
        every = int(os.environ.get("GENERATORS_LOG_EVERY", "0") or 0)
        state = {"done": 0, "t0": time.time()}

        def log(n: int = 1, **fields) -> None:
            state["done"] += n
            if every and state["done"] % every < n:
                info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
                rate = state["done"] / max(time.time() - state["t0"], 1e-9)
                print(f"{description}: {state['done']}/{total} ({rate:.2f}/s) {info}", file=sys.stderr, flush=True)

        yield log
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}")]
    with Progress(*cols, console=Console(stderr=True), transient=False) as prog:
        task = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields) -> None:
            info = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            prog.update(task, advance=n, **({"info": info} if fields else {}))

        yield advance


def summarize_history(history: dict[str, list[float]], points: int = 50) -> dict:
    """Compact loss-history summary for config.json: first/last/min and a downsampled curve."""
    out = {}
    for k, v in history.items():
        if not v:
            continue
        a = np.asarray(v, dtype=np.float64)
        chunks = np.array_split(a, min(points, len(a)))
        out[k] = {"n": len(a), "first": float(a[0]), "last": float(a[-1]), "min": float(a.min()),
                  "curve": [round(float(c.mean()), 5) for c in chunks]}
    return out


def image_grid(images: np.ndarray, ncol: int = 8, pad: int = 1, scale: int = 1) -> np.ndarray:
    """Tile uint8 NHWC images into one uint8 HWC grid (nearest-neighbour upscaled by `scale`)."""
    n, h, w, _ = images.shape
    nrow = (n + ncol - 1) // ncol
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    return grid.repeat(scale, 0).repeat(scale, 1) if scale > 1 else grid

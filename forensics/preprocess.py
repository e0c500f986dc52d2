"""The one preprocessing path shared by training and scanning (recorded in each model's config)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator

import numpy as np
import torch


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become network input. Images are scored at native resolution (no resize)."""

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    tile: int = 1024          # images larger than this on a side are scored in overlapping tiles
    tile_overlap: int = 128
    min_side: int = 32        # smaller images are reflect-padded up to this size

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Preprocessing":
        d = dict(d or {})
        known = {k: d[k] for k in ("mean", "std", "tile", "tile_overlap", "min_side") if k in d}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(float(x) for x in known[k])
                if len(known[k]) != 3:
                    raise ValueError(f"preprocessing.{k} must have 3 values")
        return cls(**known)


def normalize(x: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """uint8 (N,3,H,W) on any device -> normalised float."""
    mean = torch.tensor(pre.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=x.device).view(1, 3, 1, 1)
    return (x.float().div_(255.0) - mean) / std


def to_tensor(batch: np.ndarray, pre: Preprocessing) -> torch.Tensor:
    """(N,H,W,3) uint8 -> normalised float (N,3,H,W)."""
    arr = np.ascontiguousarray(batch)
    if not arr.flags.writeable:  # e.g. a tile of a read-only decoded image: torch warns on those
        arr = arr.copy()
    return normalize(torch.from_numpy(arr).permute(0, 3, 1, 2), pre)


def pad_to_min(rgb: np.ndarray, min_side: int) -> tuple[np.ndarray, bool]:
    """Reflect/edge-pad an image whose side is below `min_side`; returns (image, padded?)."""
    h, w = rgb.shape[:2]
    ph, pw = max(0, min_side - h), max(0, min_side - w)
    if not ph and not pw:
        return rgb, False
    mode = "reflect" if h > 1 and w > 1 and ph < h and pw < w else "edge"
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode=mode), True


def tile_origins(length: int, tile: int, overlap: int, align: int) -> list[int]:
    """Start offsets (multiples of `align`) of tiles of size `tile` covering [0, length)."""
    if length <= tile:
        return [0]
    step = max(align, ((tile - overlap) // align) * align)
    starts = list(range(0, max(1, length - tile + 1), step))
    last = ((length - tile) // align) * align
    if starts[-1] != last:
        starts.append(last)
    return starts


def iter_tiles(h: int, w: int, tile: int, overlap: int, align: int) -> Iterator[tuple[int, int]]:
    for y in tile_origins(h, tile, overlap, align):
        for x in tile_origins(w, tile, overlap, align):
            yield y, x

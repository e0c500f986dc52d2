"""The Generator base class: fit / sample / save / load shared by every family."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from forensics.device import full_precision

from ._common import (config_hash, derive_seed, load_images, make_generators, resolve_device, state_hash,
                      summarize_history, to_uint8)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar"}


class Generator(ABC):
    """Base class. Subclasses set `name`, `config_class` and implement `build`, `_fit`, `_sample_batch`.

    `self.net` holds every tensor needed for sampling; it is what `save` writes (fp16 safetensors).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        cfg = config if config is not None else self.config_class()
        known = {f.name for f in dataclasses.fields(cfg)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown config field(s) for '{self.name}': {sorted(unknown)}; known: {sorted(known)}")
        self.config = dataclasses.replace(cfg, **overrides)
        self.provenance: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {}
        self.net: nn.Module = self.build()
        self.net.eval()

    # ---- to implement -------------------------------------------------------------------
    @abstractmethod
    def build(self) -> nn.Module:
        """Create the module(s) needed for sampling."""

    @abstractmethod
    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        """Train on `data` (uint8 NCHW CPU tensor); return loss history lists."""

    @abstractmethod
    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        """One image per torch.Generator, as float NCHW in [-1, 1]; all randomness from `gens`."""

    # ---- public API ---------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return int(self.config.resolution)

    def fit(self, images: str | Path | np.ndarray, *, steps: int | None = None, device: str = "auto",
            progress: bool = True, checkpoint_dir: str | Path | None = None, checkpoint_every: int = 500,
            max_seconds: float | None = None) -> "Generator":
        """Train on a folder (centre square crop, resized) or a uint8 NHWC array; returns self.

        `checkpoint_dir`: save weights + config (and `history.json`) there every `checkpoint_every` steps.
        `max_seconds`: stop early once training has run this long (the steps done are recorded).
        """
        dev = resolve_device(device)
        arr = load_images(images, self.resolution)
        data = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
        steps = int(steps if steps is not None else self.config.steps)
        t0 = time.time()
        prov = self.provenance or {}
        prev = (prov.get("total_steps", prov.get("steps", 0)), prov.get("total_seconds", prov.get("seconds", 0.0)))
        source = str(images) if isinstance(images, (str, Path)) else f"array{tuple(arr.shape)}"
        self._ctl = _TrainControl(Path(checkpoint_dir) if checkpoint_dir else None, max(1, checkpoint_every),
                                  max_seconds, t0, steps, prev[0], prev[1], source, len(arr), str(dev))
        self.net.to(dev).train()
        try:
            self.history = self._fit(data, steps, dev, progress)
        finally:
            self.net.to("cpu").eval()
        self.provenance = self._ctl.provenance(self.history, finished=True)
        return self

    def _step_end(self, step: int, history: dict[str, list[float]]) -> bool:
        """Called by every training loop after step `step` (0-based): writes periodic checkpoints and
        returns True when the loop should stop early (`max_seconds` exceeded)."""
        ctl = getattr(self, "_ctl", None)
        if ctl is None:
            return False
        ctl.done = step + 1
        if ctl.directory is not None and ctl.done % ctl.every == 0:
            keep = self.provenance
            self.provenance = ctl.provenance(history, finished=False)
            try:
                self.save(ctl.directory)
                (ctl.directory / "history.json").write_text(json.dumps(history))
            finally:
                self.provenance = keep
        return ctl.max_seconds is not None and time.time() - ctl.t0 > ctl.max_seconds

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, device: str = "auto", batch_size: int = 64) -> np.ndarray:
        """`n` images as uint8 (n, H, W, 3); image i uses the seed derived from (seed, i)."""
        return self.sample_seeds([derive_seed(seed, i) for i in range(n)], device=device, batch_size=batch_size)

    @torch.no_grad()
    def sample_seeds(self, seeds: Sequence[int], *, device: str = "auto", batch_size: int = 64) -> np.ndarray:
        """One image per explicit per-image seed (what `write_fake_dataset` uses)."""
        dev = resolve_device(device)
        self.net.to(dev).eval()
        out = np.empty((len(seeds), self.resolution, self.resolution, 3), np.uint8)
        try:
            with full_precision(dev):  # the same images on every device: no TF32 convolutions on CUDA
                for i in range(0, len(seeds), batch_size):
                    chunk = seeds[i:i + batch_size]
                    out[i:i + len(chunk)] = to_uint8(self._sample_batch(make_generators(chunk), dev))
        finally:
            self.net.to("cpu")
        return out

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def config_hash(self) -> str:
        return config_hash(self.name, self.config_dict())

    def weights_id(self) -> str:
        """Hash of the weights as saved (fp16), so in-memory and reloaded models agree."""
        return state_hash(self.net.state_dict())

    def save(self, directory: str | Path) -> Path:
        """Write `model.safetensors` (fp16 floats) and `config.json` into `directory`."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()).contiguous()
                 for k, v in self.net.state_dict().items()}
        meta = {"family": self.name, "format": "generators/1", "config": self.config_dict(),
                "config_hash": self.config_hash(), "weights_id": self.weights_id(),
                "training": self.provenance}
        # temp files + rename: a crash mid-save never leaves a torn weights file or config
        tmp_w, tmp_c = d / f".{WEIGHTS_FILE}.tmp", d / f".{CONFIG_FILE}.tmp"
        save_file(state, str(tmp_w), metadata={"family": self.name})
        tmp_c.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp_w, d / WEIGHTS_FILE)
        os.replace(tmp_c, d / CONFIG_FILE)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "Generator":
        """Load a saved generator (safetensors + JSON only; pickled checkpoints are refused)."""
        d = _weights_dir(directory)
        meta = json.loads((d / CONFIG_FILE).read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("family"), str):
            raise ValueError(f"{d / CONFIG_FILE}: no generator 'family' recorded")
        if cls is Generator:
            from ._registry import get_generator_class
            cls = get_generator_class(meta["family"])
        elif meta.get("family") != cls.name:
            raise ValueError(f"{d} holds a '{meta.get('family')}' generator, not '{cls.name}'")
        kw = _checked_config(cls.config_class, meta.get("config", {}), d / CONFIG_FILE)
        gen = cls(cls.config_class(**kw))
        weights = d / WEIGHTS_FILE
        if not weights.resolve().is_relative_to(d.resolve()):
            raise ValueError(f"{weights}: points outside the weights folder; refused")
        state = load_file(str(weights))
        bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            raise ValueError(f"{weights}: non-finite (NaN/inf) values in {bad[0]}" +
                             (f" and {len(bad) - 1} more" if len(bad) > 1 else ""))
        own = gen.net.state_dict()
        state = {k: (v.to(own[k].dtype) if k in own else v) for k, v in state.items()}
        gen.net.load_state_dict(state, strict=True)
        gen.net.eval()
        gen.provenance = meta.get("training", {}) or {}
        return gen


@dataclasses.dataclass
class _TrainControl:
    """Book-keeping for one `fit` call: checkpoints, time budget and the provenance it writes."""
    directory: Path | None
    every: int
    max_seconds: float | None
    t0: float
    steps: int
    previous_steps: int
    previous_seconds: float
    data: str
    n_images: int
    device: str
    done: int = 0

    def provenance(self, history: dict[str, list[float]], finished: bool) -> dict[str, Any]:
        done, seconds = (self.done if self.done else self.steps), time.time() - self.t0
        return {"steps": done, "requested_steps": self.steps, "total_steps": self.previous_steps + done,
                "data": self.data, "n_images": self.n_images, "device": self.device, "seconds": round(seconds, 1),
                "total_seconds": round(self.previous_seconds + seconds, 1), "torch_threads": torch.get_num_threads(),
                "finished": finished, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "loss": summarize_history(history)}


def _weights_dir(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise ValueError(f"refusing to load '{p}': pickled checkpoints (.pt/.pkl/...) are never loaded; "
                         f"use a folder with {WEIGHTS_FILE} + {CONFIG_FILE}")
    if p.is_file() and p.name in (WEIGHTS_FILE, CONFIG_FILE):
        p = p.parent
    if not p.is_dir():
        raise FileNotFoundError(f"weights folder not found: {p}")
    for f in (WEIGHTS_FILE, CONFIG_FILE):
        if not (p / f).is_file():
            raise FileNotFoundError(f"{p} has no {f} (expected {WEIGHTS_FILE} + {CONFIG_FILE})")
    return p


MAX_STEPS = 1 << 24  # step / iteration counts


def _int_cap(name: str, default: int) -> int:
    """Largest accepted value: generous for counts, bounded for sizes so a config cannot allocate absurdly."""
    return MAX_STEPS if any(t in name for t in ("step", "iter", "epoch", "seed")) else max(64 * default, 4096)


def _checked_config(config_class: type, raw: Any, where: Path) -> dict[str, Any]:
    """Config values from JSON, checked against the dataclass defaults' types and sane ranges."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: 'config' must be an object")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config_class):
        if f.name not in raw:
            continue
        v, default = raw[f.name], getattr(config_class(), f.name)
        if isinstance(default, bool):
            ok = isinstance(v, bool)
        elif isinstance(default, int):
            ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _int_cap(f.name, default)
            ok = ok and (v > 0 or default <= 0)  # sizes and widths must stay positive
        elif isinstance(default, float):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
        elif isinstance(default, (tuple, list)):
            ok = isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            v = tuple(v) if ok else v
        elif isinstance(default, str):
            ok = isinstance(v, str)
        else:
            ok = True
        if not ok:
            raise ValueError(f"{where}: config field '{f.name}' has an invalid value {v!r}")
        out[f.name] = v
    return out


def load_generator(directory: str | Path) -> Generator:
    """Load any saved generator; the family is read from config.json."""
    return Generator.load(directory)

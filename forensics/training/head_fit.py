"""Refit a trained detector's head on whole-image features: the trunk stays as it is, and the head (the 1x1
conv, plus an optional per-cell MLP) is fit on the cells of whole training images, clean and re-encoded.

Crop training sees 64 px crops, where every cell's receptive field runs off the crop's edge; a scan sees
whole images, where most cells have their full context. The head a crop stage leaves is therefore tuned
to features the scan rarely produces. Here the features are the scan's own: each training image is run
whole through the frozen trunk (eval mode, the saved BatchNorm statistics), once clean and a few times
re-encoded as a sharing site would (`web_reencode`), and a sample of its cells, each labelled with the
image's label, is cached; the head is then fit on those cells (class- and source-balanced cross-entropy).
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from forensics.training.data import FAKE, REAL, SATURATION_RANGE, make_sources, scale_saturation, web_reencode


@dataclass
class HeadFitConfig:
    """A head-refit stage: `init_from` gives the trunk (and the starting head); the sources default to
    that model's training sources and split, so no validation file is ever fit."""

    init_from: str
    out: str
    real: Optional[list[str]] = None
    fake: Optional[list[str]] = None
    val_fraction: Optional[float] = None
    images_per_source: int = 150  # training images drawn (evenly spaced) from each source
    reencoded_views: int = 2  # re-encoded copies of each image, besides the clean one
    saturation_fraction: float = 0.6  # share of views whose colour saturation is scaled first
    cells_per_view: int = 48  # cells sampled from each view's map
    max_side: int = 1024  # larger images are centre-cropped to this (the scan tiles at 1024)
    head_hidden: int = 256  # width of the per-cell MLP added to the linear head (0: linear head only)
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    source_weights: Optional[dict[str, float]] = None
    model_id: Optional[str] = None
    device: str = "auto"  # cuda when there is one, else cpu
    progress: bool = True

    @classmethod
    def from_file(cls, path: Path, **overrides: Any) -> "HeadFitConfig":
        """Load a JSON recipe; explicit overrides (not None) win."""
        if not Path(path).is_file():
            raise ValueError(f"{path}: no such recipe file")
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a head-fit recipe is a JSON object")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown head-fit options {sorted(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        missing = [k for k in ("init_from", "out") if not data.get(k)]
        if missing:
            raise ValueError(f"{path}: a head-fit recipe needs {' and '.join(missing)}")
        return cls(**data)

    def check(self) -> None:
        for name in ("images_per_source", "cells_per_view", "epochs", "batch_size", "max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.reencoded_views < 0 or self.head_hidden < 0:
            raise ValueError("reencoded_views and head_hidden must be >= 0")
        if not 0.0 <= self.saturation_fraction <= 1.0:
            raise ValueError(f"saturation_fraction must be within 0-1, got {self.saturation_fraction}")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise ValueError("lr must be > 0 and weight_decay >= 0")


def _centre(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    y, x = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
    return rgb[y:y + max_side, x:x + max_side]


def _views(rgb: np.ndarray, cfg: HeadFitConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """The clean image and `reencoded_views` re-encoded copies, each with its saturation scaled first
    with probability `saturation_fraction` (as the crop stages' augmentation does)."""
    out = []
    for k in range(1 + cfg.reencoded_views):
        view = rgb
        if cfg.saturation_fraction and rng.random() < cfg.saturation_fraction:
            view = scale_saturation(view, float(rng.uniform(*SATURATION_RANGE)))
        if k:
            view = web_reencode(view, rng, 64)
        out.append(view)
    return out


@torch.no_grad()
def cache_cells(model: torch.nn.Module, sources: list, cfg: HeadFitConfig, pre, device: torch.device
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """(features (n, C) float16, labels (n,), source index (n,), source names) of sampled cells of each
    source's drawn training images and their views, from the frozen trunk in eval mode."""
    from forensics.decoding import ImageDecodeError, load_image
    from forensics.preprocess import pad_to_min, to_tensor
    from forensics.progress import progress_bar

    rng = np.random.default_rng(cfg.seed)
    model.eval()
    feats, labels, owners, names = [], [], [], []
    plan = []
    for si, s in enumerate(sources):
        names.append(s.name)
        files = list(s.files)
        step = max(1, len(files) // cfg.images_per_source)
        plan += [(si, s.label, f) for f in files[::step][:cfg.images_per_source]]
    for si, label, path in progress_bar(plan, desc="caching cells", enabled=cfg.progress):
        try:
            rgb = _centre(load_image(path).rgb, cfg.max_side)
        except ImageDecodeError as e:
            print(f"{path}: skipped ({e})", file=sys.stderr)
            continue
        for view in _views(rgb, cfg, rng):
            x = to_tensor(pad_to_min(view, pre.min_side)[0][None], pre).to(device)
            f = model.features(x)[0].flatten(1).T  # (cells, C)
            take = torch.from_numpy(rng.choice(f.shape[0], size=min(cfg.cells_per_view, f.shape[0]), replace=False))
            feats.append(f[take.to(f.device)].half().cpu())
            labels.append(torch.full((len(take),), label, dtype=torch.long))
            owners.append(torch.full((len(take),), si, dtype=torch.long))
    if not feats:
        raise ValueError("no training image could be read: nothing to fit the head on")
    return torch.cat(feats), torch.cat(labels), torch.cat(owners), names


def cell_weights(labels: torch.Tensor, owners: torch.Tensor, names: list[str],
                 source_weights: Optional[dict[str, float]] = None) -> torch.Tensor:
    """Per-cell loss weights: each class weighs half, and within a class each source weighs alike (times
    its `source_weights` entry), however many cells it gave."""
    w = torch.zeros(len(labels), dtype=torch.float32)
    for label in (REAL, FAKE):
        present = [i for i in range(len(names)) if bool(((owners == i) & (labels == label)).any())]
        shares = {i: float((source_weights or {}).get(names[i], 1.0)) for i in present}
        total = sum(shares.values())
        for i in present:
            m = (owners == i) & (labels == label)
            w[m] = 0.5 * shares[i] / total / float(m.sum())
    return w * len(labels)


def fit_head(model: torch.nn.Module, feats: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
             cfg: HeadFitConfig, device: torch.device) -> list[dict[str, Any]]:
    """Fit `model.head` (and `model.head_mlp`, if any) on cached cells with weighted cross-entropy, Adam and
    a cosine schedule; the trunk is untouched. Returns one record per epoch."""
    params = list(model.head.parameters()) + (list(model.head_mlp.parameters()) if model.head_mlp is not None else [])
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = cfg.epochs * math.ceil(len(labels) / cfg.batch_size)
    step, history = 0, []
    model.head.train()
    if model.head_mlp is not None:
        model.head_mlp.train()
    for epoch in range(cfg.epochs):
        t0, total, seen = time.time(), 0.0, 0.0
        for idx in torch.randperm(len(labels), generator=gen).split(cfg.batch_size):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            logits = model.head_logits(feats[idx].to(device).float()[:, :, None, None])
            w = weights[idx].to(device)
            loss = (F.cross_entropy(logits[:, :, 0, 0], labels[idx].to(device), reduction="none") * w).sum() / w.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += float(loss.detach()) * float(w.sum())
            seen += float(w.sum())
        history.append({"epoch": epoch, "train_loss": total / seen, "seconds": round(time.time() - t0, 1)})
        if cfg.progress:
            print(f"head epoch {epoch + 1}: loss {total / seen:.4f}", file=sys.stderr)
    model.eval()
    return history


def _model_with_head(init: Path, base: dict, head_hidden: int) -> torch.nn.Module:
    """`init`'s detector rebuilt with a head of width `head_hidden` (a new MLP starts at zero), in eval mode."""
    from forensics.models import build_model, parse_arch
    from forensics.training.train import warm_start

    if not parse_arch(str(base.get("arch"))).is_patch:
        raise ValueError(f"{init}: a head refit needs a patch model, not {base.get('arch')}")
    model = build_model(base["arch"], base.get("input_filter") or "none", head_hidden)
    # an MLP head of another width than the saved one (or none) starts afresh; every other tensor must copy
    new = sum(1 for k in model.state_dict() if k.startswith("head_mlp.")) if (base.get("head_hidden") or 0) != head_hidden else 0
    copied, total = warm_start(model, init)
    if copied < total - new:
        raise ValueError(f"{init}: its weights do not fit {base['arch']} ({copied} of {total - new} tensors match)")
    return model.eval()


def run_head_fit(cfg: HeadFitConfig) -> Path:
    """The whole stage: build `init_from`'s model with the requested head, cache cells of its training
    sources, fit the head, record the validation AP (the crop stages' protocol) and save the run."""
    from torch.utils.data import DataLoader

    from forensics.aggregate import ScoreRule
    from forensics.checkpoint import atomic_write_json, read_config, save_checkpoint
    from forensics.training.data import ValidationSet
    from forensics.device import resolve_device
    from forensics.preprocess import Preprocessing
    from forensics.training.train import validation_figures

    cfg.check()
    init = Path(cfg.init_from)
    base = read_config(init)
    training = dict(base.get("training") or {})
    real = cfg.real or training.get("real")
    fake = cfg.fake or training.get("fake")
    val_fraction = cfg.val_fraction if cfg.val_fraction is not None else training.get("val_fraction", 0.15)
    if not real or not fake:
        raise ValueError(f"{init}: its config names no training sources; give real and fake")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = _model_with_head(init, base, cfg.head_hidden).to(device)
    pre = Preprocessing.from_dict(base.get("preprocessing"))

    def sources(split: str) -> list:
        return make_sources([Path(d) for d in real], REAL, split=split, val_fraction=val_fraction) + \
            make_sources([Path(d) for d in fake], FAKE, split=split, val_fraction=val_fraction)

    feats, labels, owners, names = cache_cells(model, sources("train"), cfg, pre, device)
    history = fit_head(model, feats, labels, cell_weights(labels, owners, names, cfg.source_weights), cfg, device)
    for h in history:
        h["val_ap"] = None
    val_set = ValidationSet(sources("val"), int(training.get("val_size", 128)),
                            per_source=int(training.get("val_per_source", 150)))
    history[-1].update(validation_figures(model, DataLoader(val_set, batch_size=32), [n for _, _, n in val_set.items],
                                          pre, device, ScoreRule.from_config(base), "last"))

    out = Path(cfg.out)
    config = {k: v for k, v in base.items() if k not in ("format", "format_version", "weights", "calibration",
                                                         "averaged_from", "best_epoch", "validation", "head_hidden")}
    config.update({"model_id": cfg.model_id or out.name, "threshold": 0.5, "best_epoch": cfg.epochs - 1,
                   "validation": {"ap": history[-1]["val_ap"], "loss": history[-1]["val_loss"]},
                   **({"head_hidden": cfg.head_hidden} if cfg.head_hidden else {}),
                   "head_fit": {**asdict(cfg),
                                "cells_per_source": {n: int((owners == i).sum()) for i, n in enumerate(names)}},
                   "training": {**training, "real": list(real), "fake": list(fake), "val_fraction": val_fraction}})
    save_checkpoint(out, model.state_dict(), config)
    atomic_write_json(out / "metrics.json", {"best": {"val_ap": history[-1]["val_ap"], "epoch": cfg.epochs - 1},
                                             "history": history})
    return out

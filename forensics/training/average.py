"""Weight-space averaging of detectors fine-tuned from one another (a "model soup").

Interpolating a model with a later stage trained under heavier augmentation keeps most of the
later stage's robustness while giving back little of the earlier stage's clean accuracy; the
result is one detector, so scanning costs nothing extra.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from forensics.aggregate import ScoreRule
from forensics.checkpoint import read_config, read_state, save_checkpoint

# must agree between the parts: anything else would average tensors that mean different things (the
# image-score rule does not touch the tensors: the result takes the last part's, or `score_rule`)
MATCHING_KEYS = ("arch", "input_filter", "head_hidden", "preprocessing")


def read_average_config(path: Path) -> dict[str, Any]:
    """An averaging recipe: {"models": {DIR: WEIGHT, ...}, "out": DIR, "model_id": ID (optional),
    "aggregation": image-score rule of the result, e.g. "topk:0.5" (optional)}."""
    data = json.loads(Path(path).read_text())
    unknown = set(data) - {"models", "out", "model_id", "aggregation"}
    if unknown:
        raise ValueError(f"{path}: unknown averaging options {sorted(unknown)}")
    if not isinstance(data.get("models"), dict) or not data.get("out"):
        raise ValueError(f"{path}: needs \"models\" ({{DIR: WEIGHT}}) and \"out\"")
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in data["models"].values()):
        raise ValueError(f"{path}: every model's weight must be a number, got {data['models']}")
    if "aggregation" in data:
        data["aggregation"] = ScoreRule.parse(str(data["aggregation"]))
    return data


def average_detectors(models: Mapping[str, float], out: Path, *, model_id: Optional[str] = None,
                      score_rule: Optional[ScoreRule] = None) -> Path:
    """Write the weighted average of saved detectors to `out` (weights are normalised to sum to 1).

    Every part must have the same architecture, input filter and preprocessing and the same tensor
    names and shapes. Floating-point tensors (weights and BatchNorm statistics) are averaged; integer
    counters are taken from the last part. The config is the last part's (its training record, used to
    find the validation split), with `averaged_from` naming every part and its weight; the threshold is
    reset to 0.5 until `forensics calibrate` sets it. `score_rule` replaces the parts' image-score rule."""
    if len(models) < 2:
        raise ValueError("averaging needs at least two models")
    weights = {str(m): float(w) for m, w in models.items()}
    if any(not math.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"averaging weights must be >= 0 and not all 0, got {weights}")
    total = sum(weights.values())
    configs = {m: read_config(Path(m)) for m in weights}
    first = next(iter(configs))
    for m, cfg in configs.items():
        for key in MATCHING_KEYS:
            if cfg.get(key) != configs[first].get(key):
                raise ValueError(f"{m}: {key} {cfg.get(key)!r} differs from {first}'s {configs[first].get(key)!r}; "
                                 "only detectors of one architecture can be averaged")
    states = {m: read_state(Path(m), cfg) for m, cfg in configs.items()}
    names = states[first].keys()
    for m, st in states.items():
        if st.keys() != names:
            raise ValueError(f"{m}: tensor names differ from {first}'s; only detectors of one architecture can be averaged")
        bad = [k for k in names if st[k].shape != states[first][k].shape]
        if bad:
            raise ValueError(f"{m}: tensor {bad[0]!r} has shape {tuple(st[bad[0]].shape)}, "
                             f"{first} has {tuple(states[first][bad[0]].shape)}")
    last = list(states)[-1]
    averaged: dict[str, torch.Tensor] = {}
    for k in names:
        ref = states[last][k]
        if ref.is_floating_point():
            acc = sum(states[m][k].double() * (w / total) for m, w in weights.items())
            averaged[k] = acc.to(ref.dtype)
        else:
            averaged[k] = ref.clone()
    cfg = {k: v for k, v in configs[last].items() if k not in ("format", "format_version", "weights")}
    cfg.update(threshold=0.5, temperature=1.0,
               averaged_from=[{"model": m, "weight": w / total} for m, w in weights.items()])
    for stale in ("best_epoch", "validation", "calibration"):  # figures of the last part, not of the average
        cfg.pop(stale, None)
    if model_id:
        cfg["model_id"] = model_id
    if score_rule is not None:
        cfg.update(score_rule.to_config())
    return save_checkpoint(Path(out), averaged, cfg)

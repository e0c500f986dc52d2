"""Calibration: a decision threshold for a target false-positive rate on real images,
and (given fakes) a temperature on the cell logits fitted by minimum log-loss."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from forensics.aggregate import ScoreRule
from forensics.checkpoint import CONFIG_NAME, atomic_write_json, read_config
from forensics.evaluate import score_folder


def threshold_for_fpr(real_scores: np.ndarray, target_fpr: float) -> float:
    """Smallest threshold with at most `target_fpr` of real scores >= threshold."""
    s = np.sort(np.asarray(real_scores, dtype=float))
    if s.size == 0:
        raise ValueError("no real images to calibrate on")
    k = int(np.floor(target_fpr * s.size))  # number of reals allowed above the threshold
    t = s[-k - 1] if k < s.size else s[0]
    return float(min(1.0, np.nextafter(t, np.inf)))


def fit_temperature(detector, real_dirs: Sequence[Path], fake_dirs: Sequence[Path], *, limit: Optional[int],
                    progress: bool) -> float:
    """Grid search T in [0.1, 10] (log) for the lowest image-level log-loss."""
    maps, labels = [], []
    for label, dirs in ((0, real_dirs), (1, fake_dirs)):
        for d in dirs:
            from forensics.data import list_images
            from forensics.decoding import ImageDecodeError, load_image

            files = list_images(Path(d))
            if limit:
                files = files[::max(1, len(files) // limit)][:limit]
            for f in files:
                try:
                    maps.append(detector.cell_map(load_image(f)).fake_logit * detector.temperature)
                    labels.append(label)
                except ImageDecodeError:
                    pass
    y = np.array(labels)
    best_t, best_loss = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.1), np.log(10), 41)):
        p = np.clip([detector.score_rule(m / t) for m in maps], 1e-6, 1 - 1e-6)
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        if loss < best_loss:
            best_t, best_loss = float(t), float(loss)
    return best_t


def calibrate(model_dir: Path, real_dirs: Sequence[Path], *, fake_dirs: Sequence[Path] = (),
              target_fpr: float = 0.01, limit: Optional[int] = None, device: str = "auto",
              progress: bool = True, score_rule: Optional[ScoreRule] = None) -> dict[str, Any]:
    """Store threshold (and temperature; and `score_rule`, the image-score rule, when given) in the
    model's config.json; returns the calibration record."""
    from forensics.detector import Detector

    if not 0 < target_fpr < 1:
        raise ValueError("target FPR must be in (0, 1)")
    model_dir = Path(model_dir)
    det = Detector.load(model_dir, device=device)
    cfg = read_config(model_dir)
    record: dict[str, Any] = {"target_fpr": target_fpr, "date": _dt.date.today().isoformat(),
                              "real": [str(d) for d in real_dirs], "fake": [str(d) for d in fake_dirs]}
    if score_rule is not None:
        det.score_rule = score_rule
        record["aggregation"] = score_rule.name
    if fake_dirs:
        det.temperature = fit_temperature(det, real_dirs, fake_dirs, limit=limit, progress=progress)
        record["temperature"] = det.temperature
    per_source, all_scores = {}, []
    for d in real_dirs:
        _, s, _ = score_folder(det, Path(d), lambda x: x, limit=limit, progress=progress, desc=f"calibrate {Path(d).name}")
        all_scores.append(s)
        per_source[Path(d).name] = s
    scores = np.concatenate(all_scores)
    threshold = threshold_for_fpr(scores, target_fpr)
    record.update(threshold=threshold, n_real=int(scores.size),
                  fpr_per_source={k: float((v >= threshold).mean()) for k, v in per_source.items() if v.size})
    cfg.update(threshold=threshold, temperature=det.temperature, **det.score_rule.to_config(), calibration=record)
    atomic_write_json(model_dir / CONFIG_NAME, cfg)
    return record

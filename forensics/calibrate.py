"""Calibration: a decision threshold for a target false-positive rate on real images, and (given
fakes) a temperature on the cell logits fitted by minimum log-loss and, on request, a Platt rescaling
of the image score."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from forensics.aggregate import SCORE_DECIMALS, ScoreRule
from forensics.checkpoint import CONFIG_NAME, atomic_write_json, read_config
# the threshold-profile helpers read a config's calibration record: they live in forensics.checkpoint (which
# validates it) and are re-exported here, so checkpoint and detector never import this module
from forensics.checkpoint import profile_threshold, runner_up_threshold, threshold_profiles  # noqa: F401
from forensics.evaluate import score_folder
from forensics.metrics import balanced_weights


def threshold_for_fpr(real_scores: np.ndarray, target_fpr: float) -> float:
    """Smallest threshold with at most `target_fpr` of real scores >= threshold, on the grid of reported
    scores (SCORE_DECIMALS): scans report, and take their verdict on, the score rounded to that many
    decimals, so the threshold sits one step above the highest real score allowed below it, as reported."""
    s = np.sort(np.round(np.asarray(real_scores, dtype=float), SCORE_DECIMALS))
    if s.size == 0:
        raise ValueError("no real images to calibrate on")
    k = int(np.floor(target_fpr * s.size))  # number of reals allowed above the threshold
    t = s[-k - 1] if k < s.size else s[0]
    return float(min(1.0, round(t + 10.0 ** -SCORE_DECIMALS, SCORE_DECIMALS)))


def fit_platt(scores: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray] = None) -> tuple[float, float]:
    """Slope and intercept of a (weighted) logistic fit of the labels (1 = fake) on logit(score): the
    Platt rescaling that makes the scores read as P(fake) on these images (Newton steps, lightly
    regularised towards no change so separable data still give a finite fit)."""
    s = np.clip(np.asarray(scores, dtype=float), 1e-15, 1 - 1e-15)
    y = np.asarray(labels, dtype=float)
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=float)
    if not (s.shape == y.shape == w.shape) or not (0 < y.sum() < y.size):
        raise ValueError("fitting a score scaling needs real and fake scores")
    w = w / w.sum()
    x = np.log(s / (1 - s))
    ab, prior = np.array([1.0, 0.0]), 1e-4
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(ab[0] * x + ab[1], -60, 60)))
        grad = np.array([np.sum(w * (p - y) * x), np.sum(w * (p - y))]) + prior * (ab - [1.0, 0.0])
        h = w * p * (1 - p)
        hess = np.array([[np.sum(h * x * x), np.sum(h * x)], [np.sum(h * x), np.sum(h)]]) + prior * np.eye(2)
        step = np.linalg.solve(hess, grad)
        ab -= step
        if np.abs(step).max() < 1e-10:
            break
    slope, intercept = float(np.clip(ab[0], 1e-3, 100.0)), float(np.clip(ab[1], -100.0, 100.0))
    return slope, intercept


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
              progress: bool = True, score_rule: Optional[ScoreRule] = None,
              fit_scaling: bool = False) -> dict[str, Any]:
    """Store threshold (and temperature; and `score_rule`, the image-score rule, when given) in the
    model's config.json; returns the calibration record. `fit_scaling` (needs `fake_dirs`) also fits a
    Platt rescaling of the image score on these images, both classes weighted equally, so that scores
    read as P(fake) when half of all images are fake; the threshold is then set on rescaled scores."""
    from forensics.detector import Detector

    if not 0 < target_fpr < 1:
        raise ValueError("target FPR must be in (0, 1)")
    model_dir = Path(model_dir)
    det = Detector.load(model_dir, device=device)
    cfg = read_config(model_dir)
    record: dict[str, Any] = {"target_fpr": target_fpr, "date": _dt.date.today().isoformat(),
                              "real": [str(d) for d in real_dirs], "fake": [str(d) for d in fake_dirs]}
    if fit_scaling and not fake_dirs:
        raise ValueError("fitting a score scaling needs fake folders (--fake)")
    if score_rule is not None:
        det.score_rule = score_rule
        record["aggregation"] = score_rule.name
    if fit_scaling:
        det.score_rule = det.score_rule.with_scaling()  # temperature and scaling are fitted from scratch
    if fake_dirs:
        det.temperature = fit_temperature(det, real_dirs, fake_dirs, limit=limit, progress=progress)
        record["temperature"] = det.temperature
    if fit_scaling:
        real = np.concatenate([score_folder(det, Path(d), lambda x: x, limit=limit, progress=progress,
                                            desc=f"scaling {Path(d).name}")[1] for d in real_dirs])
        fake = np.concatenate([score_folder(det, Path(d), lambda x: x, limit=limit, progress=progress,
                                            desc=f"scaling {Path(d).name}")[1] for d in fake_dirs])
        labels = np.r_[np.zeros(real.size), np.ones(fake.size)]
        slope, intercept = fit_platt(np.r_[real, fake], labels, balanced_weights(labels))
        det.score_rule = det.score_rule.with_scaling(slope, intercept)
        record["score_scaling"] = {"slope": slope, "intercept": intercept, "n_real": int(real.size),
                                   "n_fake": int(fake.size)}
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

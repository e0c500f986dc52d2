"""Evaluate a detector on real and named fake sets: AP (fake positive), accuracy, TPR@FPR, PR curves."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np

from forensics.data import list_images, warn_skipped
from forensics.decoding import ImageDecodeError, load_image
from forensics.fileio import replaced_atomically
from forensics.metrics import balanced_weights, binary_metrics, calibration_error
from forensics.perturb import parse_perturbations
from forensics.progress import progress_bar


def score_folder(detector, folder: Path, perturb, *, limit: Optional[int] = None, progress: bool = True,
                 desc: str = "") -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
    """Scores for the readable images of a folder after `perturb`; unreadable files are listed."""
    files = list_images(folder)
    if limit:
        step = max(1, len(files) // limit)
        files = files[::step][:limit]
    names, scores, errors = [], [], []

    def pixels() -> Iterator[np.ndarray]:
        for f in progress_bar(files, desc=desc, enabled=progress, unit="img"):
            try:
                rgb = perturb(load_image(f).rgb)
            except ImageDecodeError as e:
                errors.append({"path": str(f), "error": str(e)})
                warn_skipped(f, str(e), "evaluation")
                continue
            names.append(str(f))
            yield rgb

    for r in detector.scan_many(pixels(), batch_size=8, provenance=False):
        scores.append(r.score)
    if files and not scores:
        import sys

        print(f"warning: no readable images in {folder} ({len(files)} files, all unreadable): "
              "its metrics are undefined (nan)", file=sys.stderr, flush=True)
    return names, np.array(scores, dtype=float), errors


def _metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """`binary_metrics` plus the calibration error of the scores with both classes weighted equally."""
    m = binary_metrics(labels, scores, threshold)
    both = labels.size and 0 < labels.sum() < labels.size
    m["ece"] = calibration_error(labels, scores, balanced_weights(labels))["ece"] if both else float("nan")
    return m


def evaluate(detector, real: Sequence[Path], fakes: Mapping[str, Path], *, perturb: str | None = None,
             limit: Optional[int] = None, progress: bool = True) -> dict[str, Any]:
    """Metrics per fake set (vs all reals) and overall, for each perturbation condition."""
    conditions = parse_perturbations(perturb)
    out: dict[str, Any] = {"model": detector.model_id, "threshold": detector.threshold,
                           "real": [str(r) for r in real], "fake": {k: str(v) for k, v in fakes.items()},
                           "conditions": {}, "errors": []}
    for cname, fn in conditions.items():
        real_scores, per_real = [], {}
        for r in real:
            _, s, err = score_folder(detector, Path(r), fn, limit=limit, progress=progress, desc=f"{cname} real")
            real_scores.append(s)
            per_real[Path(r).name] = {"n": int(s.size), "fpr": float((s >= detector.threshold).mean()) if s.size else None}
            out["errors"] += err
        rs = np.concatenate(real_scores) if real_scores else np.array([])
        res: dict[str, Any] = {"per_real_source": per_real, "fake_sets": {}}
        all_fake = []
        for name, folder in fakes.items():
            _, fs, err = score_folder(detector, Path(folder), fn, limit=limit, progress=progress, desc=f"{cname} {name}")
            out["errors"] += err
            all_fake.append(fs)
            labels = np.r_[np.zeros(rs.size), np.ones(fs.size)]
            res["fake_sets"][name] = _metrics(labels, np.r_[rs, fs], detector.threshold)
            res["fake_sets"][name]["_scores"] = (rs, fs)
        fs_all = np.concatenate(all_fake) if all_fake else np.array([])
        res["overall"] = _metrics(np.r_[np.zeros(rs.size), np.ones(fs_all.size)], np.r_[rs, fs_all], detector.threshold)
        out["conditions"][cname] = res
    return out


def plot_pr_curves(results: dict[str, Any], path: Path) -> Path:
    """One PR panel per condition, one curve per fake set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    conds = results["conditions"]
    fig, axes = plt.subplots(1, len(conds), figsize=(4.2 * len(conds), 3.8), squeeze=False)
    for ax, (cname, res) in zip(axes[0], conds.items()):
        for name, m in res["fake_sets"].items():
            rs, fs = m["_scores"]
            if rs.size and fs.size:
                p, r, _ = precision_recall_curve(np.r_[np.zeros(rs.size), np.ones(fs.size)], np.r_[rs, fs])
                ax.plot(r, p, label=f"{name} (AP {m['ap']:.3f})")
        ax.set(title=cname, xlabel="recall (fake)", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def strip_scores(results: dict[str, Any]) -> dict[str, Any]:
    """Results without the raw score arrays (for JSON)."""
    import copy

    clean = copy.deepcopy({k: v for k, v in results.items() if k != "conditions"})
    clean["conditions"] = {}
    for c, res in results["conditions"].items():
        clean["conditions"][c] = {**res, "fake_sets": {n: {k: v for k, v in m.items() if k != "_scores"}
                                                        for n, m in res["fake_sets"].items()}}
    return clean

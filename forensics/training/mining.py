"""Hard-example mining: the real training photos a detector scores most fake (and the fakes it scores
most real), to be drawn more often.

A model that underfits one kind of real photo (small, heavily processed web pictures) keeps calling a
few of them fake however often their source is drawn, because most files of that source are easy; the
same holds for the fakes it misses. Mining ranks the training files of one class by a detector's image
score once, before a stage starts, and the training stream then draws a share of that class from the
hard end of the ranking."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

from forensics.checkpoint import atomic_write_json
from forensics.progress import progress_bar

MINED_NAME = "hard_reals.json"
MINED_FAKES_NAME = "hard_fakes.json"


def score_files(detector, files: Sequence[Path], *, progress: bool = True, desc: str = "mining reals") -> dict[str, float]:
    """Image score of each readable file (unreadable files are left out), keyed by path."""
    scores: dict[str, float] = {}
    paths = [str(f) for f in files]
    bar = progress_bar(detector.scan_many(paths, batch_size=16, provenance=False), desc=desc,
                       total=len(paths), enabled=progress, unit="img")
    for r in bar:
        if r.score is not None and r.path is not None:
            scores[r.path] = float(r.score)
    return scores


def hardest(scores: dict[str, float], top: float, *, highest: bool = True) -> list[Path]:
    """The `top` share (at least one file) of the scored files with the highest scores, highest first
    (reals: the most fake-looking); with `highest=False` the lowest, lowest first (fakes)."""
    if not 0.0 < top <= 1.0:
        raise ValueError(f"hard-example top share must be in (0, 1], got {top}")
    if not scores:
        raise ValueError(f"no readable {'real' if highest else 'fake'} files to mine")
    sign = -1.0 if highest else 1.0
    ranked = sorted(scores, key=lambda p: (sign * scores[p], p))
    return [Path(p) for p in ranked[:max(1, round(top * len(ranked)))]]


def mine_hard_reals(model_dir: Path, files: Sequence[Path], out_dir: Path, *, top: float,
                    device: str = "auto", progress: bool = True) -> list[Path]:
    """The hardest real files (highest scores) under `model_dir`'s detector; see `mine_hard_files`."""
    return mine_hard_files(model_dir, files, out_dir, top=top, fake=False, device=device, progress=progress)


def mine_hard_fakes(model_dir: Path, files: Sequence[Path], out_dir: Path, *, top: float,
                    device: str = "auto", progress: bool = True) -> list[Path]:
    """The hardest fake files (lowest scores) under `model_dir`'s detector; see `mine_hard_files`."""
    return mine_hard_files(model_dir, files, out_dir, top=top, fake=True, device=device, progress=progress)


def hardest_per_group(scores: dict[str, float], groups: Sequence[Sequence[Path]], top: float, *,
                      highest: bool = True) -> list[Path]:
    """`hardest` within each group (a training source), so that one large or uniformly hard source cannot
    fill the list. Each group's files are repeated up to the longest group's count, so a uniform draw from
    the list takes every source equally often; groups without a readable file are skipped."""
    per_group = []
    for group in groups:
        names = {str(f) for f in group}
        sub = {p: v for p, v in scores.items() if p in names}
        if sub:
            per_group.append(hardest(sub, top, highest=highest))
    if not per_group:
        raise ValueError(f"no readable {'real' if highest else 'fake'} files to mine")
    longest = max(len(g) for g in per_group)
    return [g[i % len(g)] for g in per_group for i in range(longest)]


def mine_hard_files(model_dir: Path, files: Sequence[Path], out_dir: Path, *, top: float, fake: bool,
                    device: str = "auto", progress: bool = True,
                    groups: Optional[Sequence[Sequence[Path]]] = None) -> list[Path]:
    """The hardest files of one class under `model_dir`'s detector: reals scored most fake, or fakes
    (`fake=True`) scored most real. Scores are cached in `out_dir/hard_reals.json` (`hard_fakes.json`)
    with the model, its weights' size and the number of files they belong to, so a resumed run does not
    score again and a changed model or file list is scored afresh. With `groups` (the files of each
    training source), the top share is taken within each group (`hardest_per_group`)."""
    from forensics.detector import Detector

    from forensics.checkpoint import read_config

    if not 0.0 < top <= 1.0:  # before the scoring, not after it
        raise ValueError(f"hard-example top share must be in (0, 1], got {top}")
    cache = Path(out_dir) / (MINED_FAKES_NAME if fake else MINED_NAME)
    cfg = read_config(Path(model_dir))
    weights = Path(model_dir) / str(cfg.get("weights", "model.safetensors"))
    key = {"model": str(model_dir), "model_id": cfg.get("model_id"),
           "weights_bytes": weights.stat().st_size if weights.is_file() else None, "files": len(files)}
    cached: Optional[dict] = None
    if cache.is_file():
        try:
            cached = json.loads(cache.read_text())
        except (OSError, ValueError):
            cached = None
    if cached and cached.get("key") == key and isinstance(cached.get("scores"), dict):
        scores = {str(k): float(v) for k, v in cached["scores"].items()}
    else:
        scores = score_files(Detector.load(model_dir, device=device), files, progress=progress,
                             desc="mining fakes" if fake else "mining reals")
        atomic_write_json(cache, {"key": key, "scores": scores})
    if groups is not None:
        return hardest_per_group(scores, groups, top, highest=not fake)
    return hardest(scores, top, highest=not fake)

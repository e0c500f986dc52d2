"""Which analysed images the detector was trained on (from the `training` record in its config.json).

A checkpoint's config records the training folders (`real`, `fake`) and how validation was split off:
either explicit validation folders (`val_real` / `val_fake`, so every file under a training folder was
trained on) or a file-level hash split (`val_fraction`, `forensics.data.in_validation`). Reports use
this to say when a set's scores are optimistic because the model saw those very images.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]


def _resolve_folder(folder: str, bases: Sequence[Path]) -> list[str]:
    """Existing real paths a recorded (possibly relative) training folder may refer to."""
    p = Path(folder)
    cands = [p] if p.is_absolute() else [b / p for b in bases]
    out = []
    for c in cands:
        if c.is_dir():
            real = os.path.realpath(c)
            if real not in out:
                out.append(real)
    return out


def training_split(config: Mapping[str, Any], bases: Optional[Sequence[Path]] = None
                   ) -> tuple[list[str], Optional[float]]:
    """(real paths of the training folders, hash-split fraction or None when every file was trained on)."""
    t = config.get("training") if isinstance(config, Mapping) else None
    if not isinstance(t, Mapping):
        return [], None
    bases = list(bases) if bases is not None else [Path.cwd(), REPO_ROOT]
    folders: list[str] = []
    for key in ("real", "fake"):
        for d in t.get(key) or []:
            folders += [f for f in _resolve_folder(str(d), bases) if f not in folders]
    explicit_val = bool(t.get("val_real") or t.get("val_fake"))
    frac = t.get("val_fraction")
    fraction = None if explicit_val or not isinstance(frac, (int, float)) or frac <= 0 else float(frac)
    return folders, fraction


def was_trained_on(path: Path, folders: Sequence[str], fraction: Optional[float]) -> bool:
    """True when `path` lies under a training folder and was not held out by the hash split."""
    from forensics.data import in_validation

    real = os.path.realpath(path)
    inside = any(real == f or real.startswith(f.rstrip(os.sep) + os.sep) for f in folders)
    if not inside:
        return False
    return fraction is None or not in_validation(Path(path), fraction)


def count_trained_on(config: Mapping[str, Any], paths: Sequence[Path],
                     bases: Optional[Sequence[Path]] = None) -> int:
    """How many of `paths` the model described by `config` was trained on."""
    folders, fraction = training_split(config, bases)
    if not folders:
        return 0
    return sum(was_trained_on(Path(p), folders, fraction) for p in paths)


def overlap_notes(config: Mapping[str, Any], sets: Mapping[str, Sequence[Path]],
                  bases: Optional[Sequence[Path]] = None) -> list[str]:
    """One line per set that contains training images of the model (empty when none do)."""
    notes = []
    for name, paths in sets.items():
        n = count_trained_on(config, paths, bases)
        if n:
            notes.append(f"set '{name}': {n} of {len(paths)} images were in the model's training split, "
                         f"so its scores on this set are optimistic")
    return notes

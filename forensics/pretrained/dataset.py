"""The image sources a fused detector is trained, selected and calibrated on, read from a recipe file.

Each source has a name, a label (real or fake), a family (the generator family for fakes, so that a
whole family can be left out; the kind of photo for reals) and a folder under one of the recipe's data
roots ("shared:real/celeba/train"). Files are listed in sorted order and thinned evenly to `limit`, so a
recipe always picks the same files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from forensics.data import list_images

LABELS = {"real": 0, "fake": 1}


class DataConfigError(ValueError):
    """A recipe's data section names something that is not there or not valid."""


@dataclass(frozen=True)
class Source:
    name: str
    label: int  # 0 real, 1 fake
    family: str
    folder: Path
    files: tuple[Path, ...]
    origin: str = ""
    licence: str = ""

    @property
    def label_name(self) -> str:
        return "fake" if self.label else "real"


def resolve_root(spec: str, roots: Mapping[str, str], base: Path) -> Path:
    """'root:rel/path' -> absolute folder; roots may be overridden by $FORENSICS_DATA_<ROOT>."""
    root, sep, rel = spec.partition(":")
    if not sep:
        return (base / spec).resolve()
    env = os.environ.get(f"FORENSICS_DATA_{root.upper()}")
    if env:
        return (Path(env) / rel).resolve()
    if root not in roots:
        raise DataConfigError(f"unknown data root {root!r} in {spec!r} (roots: {', '.join(roots) or 'none'})")
    return (base / roots[root] / rel).resolve()


def thin(files: list[Path], limit: Optional[int]) -> list[Path]:
    """Evenly spaced `limit` files of a sorted list (all of them when limit is None or larger)."""
    if not limit or len(files) <= limit:
        return files
    step = len(files) / limit
    return [files[int(i * step)] for i in range(limit)]


def load_sources(config: Mapping[str, Any], base: Path, *, require: bool = False) -> list[Source]:
    """Sources of a recipe's "data" section. A source whose folder is absent or holds no selected image is
    dropped (`missing_sources` lists them), or with `require` one DataConfigError names every such source."""
    data = config.get("data") or {}
    roots = data.get("roots") or {}
    out, absent = [], []
    for entry in data.get("sources") or []:
        try:
            name, label, family, path = entry["name"], entry["label"], entry["family"], entry["path"]
        except KeyError as e:
            raise DataConfigError(f"data source {entry!r} lacks field {e}") from None
        if label not in LABELS:
            raise DataConfigError(f"data source {name}: label must be real or fake, not {label!r}")
        folder = resolve_root(path, roots, base)
        if not folder.is_dir():
            absent.append(name)
            continue
        files = thin(list_images(folder), entry.get("limit"))
        # include / exclude: parts of a file's path below the source folder (e.g. subfolder names)
        include, exclude = entry.get("include") or [""], entry.get("exclude") or []
        files = [f for f, rel in ((f, f.relative_to(folder).as_posix()) for f in files)
                 if any(part in rel for part in include) and not any(part in rel for part in exclude)]
        if files:
            out.append(Source(name=name, label=LABELS[label], family=family, folder=folder, files=tuple(files),
                              origin=str(entry.get("origin", "")), licence=str(entry.get("licence", ""))))
        else:
            absent.append(name)
    if require and absent:
        raise DataConfigError(f"{len(absent)} sources not found (folder absent or without images): {', '.join(absent)}")
    return out


def missing_sources(config: Mapping[str, Any], loaded: list[Source]) -> list[str]:
    """Names of the recipe's sources that `load_sources` left out (folder absent or empty)."""
    have = {s.name for s in loaded}
    return [e["name"] for e in (config.get("data") or {}).get("sources") or [] if e["name"] not in have]

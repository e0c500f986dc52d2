"""Run a detector over named image sets once and collect everything the analysis needs.

One pass per image: decode, cell map, image score, resized map (mean heatmaps), mean image, best
patch (top patches), region labels of the best patch and of random patches (region statistics), and
the residual spectrum. The detector only needs `cell_map(rgb)`, `aggregation`, `threshold` and
`model_id` (a `forensics.detector.Detector`, or any object with those).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import cv2
import numpy as np

from forensics.aggregate import SCORE_DECIMALS, ScoreRule
from forensics.analysis.heatmaps import (DEFAULT_SIZE, SetHeatmaps, add_differences, plot_mean_heatmaps,
                                         resize_map, set_heatmaps)
from forensics.analysis.patches import Geometry, TopPatch, plot_patch_grids, random_cells, select_top, top_patch
from forensics.analysis.regions import Labeller, RegionCounts, count_regions, plot_region_histograms
from forensics.analysis.spectra import DEFAULT_SPECTRUM_SIZE, SpectrumAccumulator, plot_spectra, spectral_peaks
from forensics.decoding import ImageDecodeError, load_image
from forensics.fileio import write_atomically
from forensics.results import LABEL_FAKE, LABEL_REAL, ScanResult


@dataclass(frozen=True)
class ImageSet:
    """A named list of image files and whether they are real."""

    name: str
    paths: tuple[Path, ...]
    is_real: bool

    @classmethod
    def from_folder(cls, name: str, folder: Path, *, is_real: bool, limit: Optional[int] = None) -> "ImageSet":
        """All images under `folder` (sorted); with `limit`, an evenly spaced subset of that many."""
        from forensics.data import list_images

        return cls.from_files(name, list_images(Path(folder)), is_real=is_real, limit=limit)

    @classmethod
    def from_files(cls, name: str, files: Sequence[Path], *, is_real: bool, limit: Optional[int] = None) -> "ImageSet":
        """A set of the given files; with `limit`, an evenly spaced subset of that many (order kept)."""
        files = [Path(f) for f in files]
        if limit and len(files) > limit:
            idx = np.linspace(0, len(files) - 1, int(limit)).round().astype(int)
            files = [files[i] for i in idx]
        return cls(name=name, paths=tuple(files), is_real=is_real)


@dataclass
class SetAnalysis:
    """Everything collected for one image set."""

    name: str
    is_real: bool
    results: list[ScanResult] = field(default_factory=list)  # one per readable image, in order
    maps: list[np.ndarray] = field(default_factory=list)     # resized P(fake) maps
    patches: list[TopPatch] = field(default_factory=list)
    regions: dict[str, RegionCounts] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    image_sum: Optional[np.ndarray] = None
    spectrum: Optional[SpectrumAccumulator] = None
    heatmaps: Optional[SetHeatmaps] = None
    top: list[TopPatch] = field(default_factory=list)

    @property
    def scores(self) -> np.ndarray:
        return np.array([r.score for r in self.results], dtype=float)

    @property
    def n(self) -> int:
        return len(self.results)


@dataclass
class Analysis:
    """The analysis of several sets by one detector."""

    model: str
    threshold: float
    sets: dict[str, SetAnalysis]
    real_names: list[str]
    size: int
    top_k: int
    n_extreme: int
    geometry: Optional[dict[str, int]] = None
    notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ outputs
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "threshold": self.threshold, "real_sets": self.real_names,
                               "common_size": self.size, "top_k": self.top_k, "n_extreme": self.n_extreme,
                               "geometry": self.geometry, "notes": self.notes, "sets": {}}
        for name, s in self.sets.items():
            sc = s.scores
            d: dict[str, Any] = {
                "is_real": s.is_real, "n": s.n, "n_errors": len(s.errors), "errors": s.errors[:20],
                "score": ({"mean": float(sc.mean()), "median": float(np.median(sc)),
                           "flagged_fake": float((sc >= self.threshold).mean())} if sc.size else None),
                "heatmap": s.heatmaps.summary() if s.heatmaps else None,
                "top_patches": [{"path": p.path, "cell": list(p.cell), "box": list(p.box),
                                 "confidence": round(p.confidence, 6)} for p in s.top],
                "regions": {k: c.to_dict() for k, c in s.regions.items()},
            }
            if s.spectrum is not None and s.spectrum.mean is not None:
                d["spectral_peaks"] = spectral_peaks(s.spectrum.mean)
            out["sets"][name] = d
        return out

    def write_figures(self, out_dir: Path, *, dpi: int = 90) -> dict[str, Path]:
        """mean_heatmaps.png, top_patches.png, regions.png, spectra.png (those that have data)."""
        out_dir = Path(out_dir)
        figs: dict[str, Path] = {}
        hm = [s.heatmaps for s in self.sets.values() if s.heatmaps is not None]
        if hm:
            figs["mean_heatmaps"] = plot_mean_heatmaps(
                hm, out_dir / "mean_heatmaps.png", dpi=dpi,
                title=f"where the evidence is: mean P(fake) per patch ({self.model})")
        grids = [(s.name, s.top) for s in self.sets.values() if s.top]
        if grids:
            figs["top_patches"] = plot_patch_grids(grids, out_dir / "top_patches.png", dpi=dpi)
        regs = [(s.name, list(s.regions.values())) for s in self.sets.values()
                if any(c.n_images for c in s.regions.values())]
        if regs:
            figs["regions"] = plot_region_histograms(regs, out_dir / "regions.png", dpi=dpi)
        specs = [(s.name, s.spectrum.mean) for s in self.sets.values() if s.spectrum is not None and s.spectrum.n]
        if specs:
            figs["spectra"] = plot_spectra(specs, out_dir / "spectra.png", dpi=dpi)
        return figs

    def write(self, out_dir: Path, *, dpi: int = 90) -> dict[str, Path]:
        """Figures plus analysis.json into `out_dir`; returns the written paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = self.write_figures(out_dir, dpi=dpi)
        data = self.to_dict()
        data["figures"] = {k: v.name for k, v in paths.items()}
        write_atomically(out_dir / "analysis.json",
                         json.dumps(data, indent=2, allow_nan=False, default=_json_default).encode("utf-8"))
        paths["analysis"] = out_dir / "analysis.json"
        return paths


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _heatmap_summary(probs: np.ndarray, cmap, h: int, w: int) -> dict[str, Any]:
    i, j = np.unravel_index(int(np.argmax(probs)), probs.shape)
    box = cmap.cell_box(int(i), int(j), h, w) if hasattr(cmap, "cell_box") else None
    return {"grid": [int(probs.shape[0]), int(probs.shape[1])], "stride": int(cmap.stride),
            "receptive_field": int(cmap.receptive_field), "max": round(float(probs.max()), 6),
            "mean": round(float(probs.mean()), 6), "fraction_fake_cells": round(float((probs > 0.5).mean()), 6),
            "max_cell_box": list(box) if box else None}


def analyze_sets(detector, sets: Sequence[ImageSet], *, size: int = DEFAULT_SIZE, n_extreme: int = 16,
                 top_k: int = 32, n_random: int = 4, labellers: Optional[Sequence[Labeller]] = None,
                 spectrum_size: int = DEFAULT_SPECTRUM_SIZE, provenance: Optional[bool] = False,
                 seed: int = 0, progress: bool = True,
                 loader: Optional[Callable[[Path], np.ndarray]] = None) -> Analysis:
    """Score every image of every set once and collect heatmaps, top patches, regions and spectra."""
    from forensics.progress import progress_bar
    from forensics.provenance_hook import provenance_for

    if labellers is None:
        from forensics.analysis.regions import default_labellers

        labellers = default_labellers(faces=False)
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"set names must be unique, got {names}")
    rng = np.random.default_rng(seed)
    out: dict[str, SetAnalysis] = {}
    geometry = None
    model_id = str(getattr(detector, "model_id", "detector"))
    threshold = float(getattr(detector, "threshold", 0.5))
    score_rule = getattr(detector, "score_rule", ScoreRule())
    for s in sets:
        acc = SetAnalysis(name=s.name, is_real=s.is_real, spectrum=SpectrumAccumulator(spectrum_size),
                          regions={lab.name: RegionCounts(lab.name, tuple(lab.regions)) for lab in labellers})
        img_sum = np.zeros((size, size, 3), np.float64)
        for path in progress_bar(s.paths, desc=s.name, total=len(s.paths), enabled=progress, unit="img"):
            try:
                decoded = load_image(path) if loader is None else None
                rgb = decoded.rgb if decoded is not None else loader(Path(path))
            except (ImageDecodeError, OSError, ValueError) as e:
                acc.errors.append({"path": str(path), "error": str(e).splitlines()[0] if str(e) else type(e).__name__})
                continue
            h, w = rgb.shape[:2]
            cmap = detector.cell_map(rgb)
            probs = cmap.probabilities
            score = round(float(score_rule(cmap.fake_logit)), SCORE_DECIMALS)  # as `Detector.scan` reports and decides
            geo = Geometry(int(cmap.stride), int(cmap.receptive_field), int(cmap.offset))
            geometry = geometry or {"stride": geo.stride, "receptive_field": geo.receptive_field, "offset": geo.offset}
            idx = acc.n
            acc.maps.append(resize_map(probs, size))
            img_sum += cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
            tp = top_patch(rgb, probs, geo, is_real=s.is_real, image_index=idx, path=str(path))
            acc.patches.append(tp)
            rand = [geo.centre(i, j) for i, j in random_cells(probs.shape, geo, h, w, n_random, rng)]
            for lab in labellers:
                count_regions(lab, rgb, [tp.centre], rand, acc.regions[lab.name])
            acc.spectrum.add(rgb)  # type: ignore[union-attr]
            acc.results.append(ScanResult(
                path=str(path), score=score, label=LABEL_FAKE if score >= threshold else LABEL_REAL,
                threshold=threshold, model=model_id, width=w, height=h,
                sha256=getattr(decoded, "sha256", None), heatmap=_heatmap_summary(probs, cmap, h, w),
                provenance=provenance_for(str(path), provenance)))
        if acc.n:
            acc.heatmaps = set_heatmaps(s.name, acc.maps, acc.scores, is_real=s.is_real, size=size,
                                        n_extreme=n_extreme, mean_image=(img_sum / acc.n).round().astype(np.uint8))
            acc.top = select_top(acc.patches, top_k)
            keep = {id(p) for p in acc.top}
            for p in acc.patches:  # free the windows that are not shown
                if id(p) not in keep:
                    p.window = None
        out[s.name] = acc
    real_names = [s.name for s in sets if s.is_real]
    analysis = Analysis(model=model_id, threshold=threshold, sets=out, real_names=real_names, size=size,
                        top_k=top_k, n_extreme=n_extreme, geometry=geometry)
    if add_differences({k: v.heatmaps for k, v in out.items() if v.heatmaps is not None}, real_names) is None:
        analysis.notes.append("no real set given: differences to the real mean heatmap are not shown")
    return analysis


def parse_named_dirs(items: Iterable[str]) -> list[tuple[str, Path]]:
    """'NAME=DIR' strings (or a bare DIR, named after its folder) -> [(name, path)]; ValueError on bad input."""
    out = []
    for item in items:
        name, sep, d = item.partition("=")
        if not sep:
            name, d = Path(item).name, item
        name, d = name.strip(), d.strip()
        if not name or not d:
            raise ValueError(f"expected NAME=DIR, got '{item}'")
        if not Path(d).is_dir():
            raise ValueError(f"{d}: not a directory")
        out.append((name, Path(d)))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"set names must be unique; repeated: {', '.join(dup)}")
    return out

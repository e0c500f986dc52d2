"""Self-contained HTML reports (jinja2; images inlined as data URIs).

- `write_scan_report`: one card per scanned image (used by `forensics demo`);
- `build_report` / `write_analysis_report`: the `forensics report` page: metrics per generator, mean
  heatmaps, top patches, region statistics, spectra, worst errors with heatmaps, provenance.
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape

from forensics.fileio import write_atomically
from forensics.results import ScanResult

TEMPLATES = Path(__file__).parent / "templates"


def data_uri(png_path: Path) -> str:
    """Inline a PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))


def _provenance_line(prov: Optional[dict[str, Any]]) -> str:
    if not prov:
        return ""
    if prov.get("error"):
        return f"not inspected ({prov['error']})"
    sigs = prov.get("signals") or []
    if not sigs:
        return "no signals found (absence is not evidence of authenticity)"
    return "; ".join(f"{s.get('kind')}: {str(s.get('value'))[:80]} [{s.get('strength')}]" for s in sigs)


def write_scan_report(results: Sequence[ScanResult], out: Path, *, title: str = "forensics scan report",
                      extra_sections: Iterable[dict[str, str]] = ()) -> Path:
    """One HTML file with a summary and one card (overlay, verdict, provenance) per image.

    `extra_sections`: {"title": ..., "html": ...} where html is trusted markup made by the caller.
    """
    results = list(results)
    rows = []
    for r in results:
        overlay = (r.heatmap or {}).get("overlay")
        rows.append({"name": r.path or "<array>", "label": r.label, "score": r.score, "width": r.width,
                     "height": r.height, "error": r.error, "provenance": _provenance_line(r.provenance),
                     "notes": "; ".join(r.notes),
                     "overlay": data_uri(Path(overlay)) if overlay and Path(overlay).is_file() else None})
    counts = dict(Counter(r.label for r in results))
    first = results[0] if results else None
    html = _env().get_template("scan_report.html.j2").render(
        title=title, model=first.model if first else "-", threshold=first.threshold if first else 0.5,
        n_total=len(results), counts=counts, rows=rows, extra_sections=list(extra_sections),
        when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    out = Path(out)
    write_atomically(out, html.encode("utf-8"))
    return out


# ---------------------------------------------------------------------------------------------------
# Analysis reports: metrics, where the evidence is, worst errors, provenance (forensics report).
# ---------------------------------------------------------------------------------------------------

def image_data_uri(path: Path, *, max_side: Optional[int] = None, fmt: str = "png", quality: int = 82) -> str:
    """Inline an image file as a data URI, optionally downscaled (longest side) and re-encoded as JPEG."""
    from PIL import Image

    path = Path(path)
    if max_side is None and fmt == "png" and path.suffix.lower() == ".png":
        return data_uri(path)
    with Image.open(path) as im:
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            s = max_side / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
        buf = io.BytesIO()
        if fmt == "jpeg":
            im.save(buf, "JPEG", quality=quality, optimize=True)
            mime = "image/jpeg"
        else:
            im.save(buf, "PNG", optimize=True)
            mime = "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def detection_metrics(analysis) -> dict[str, Any]:
    """Per fake set vs all real images pooled: AP, ROC AUC, accuracy, TPR@FPR (fake = positive);
    per real source: FPR at the threshold; AP of each fake set against each real source."""
    from forensics.metrics import binary_metrics

    thr = analysis.threshold
    reals = {n: analysis.sets[n].scores for n in analysis.real_names if analysis.sets[n].n}
    fakes = {n: s.scores for n, s in analysis.sets.items() if not s.is_real and s.n}
    pooled = np.concatenate(list(reals.values())) if reals else np.array([])
    out: dict[str, Any] = {"threshold": thr, "fake_sets": {}, "real_sources": {}, "ap_by_real_source": {}}
    for name, fs in fakes.items():
        m = binary_metrics(np.r_[np.zeros(pooled.size), np.ones(fs.size)], np.r_[pooled, fs], thr)
        m["mean_score"] = float(fs.mean())
        out["fake_sets"][name] = {k: _nan_to_none(v) for k, v in m.items()}
        out["ap_by_real_source"][name] = {
            r: _nan_to_none(binary_metrics(np.r_[np.zeros(rs.size), np.ones(fs.size)], np.r_[rs, fs], thr)["ap"])
            for r, rs in reals.items()}
    if fakes:
        allf = np.concatenate(list(fakes.values()))
        m = binary_metrics(np.r_[np.zeros(pooled.size), np.ones(allf.size)], np.r_[pooled, allf], thr)
        m["mean_score"] = float(allf.mean())
        out["overall"] = {k: _nan_to_none(v) for k, v in m.items()}
    for name, rs in reals.items():
        out["real_sources"][name] = {"n": int(rs.size), "fpr": float((rs >= thr).mean()),
                                     "mean_score": float(rs.mean())}
    return out


def worst_cases(analysis, n: int = 6) -> dict[str, list[ScanResult]]:
    """Highest-scoring real images (false positives first) and lowest-scoring fakes (false negatives first)."""
    reals = [r for name in analysis.real_names for r in analysis.sets[name].results]
    fakes = [r for s in analysis.sets.values() if not s.is_real for r in s.results]
    return {"false_positives": sorted(reals, key=lambda r: -r.score)[:n],
            "false_negatives": sorted(fakes, key=lambda r: r.score)[:n]}


def render_cases(detector, cases: Sequence[ScanResult], out_dir: Path, *, set_of: dict[str, str],
                 max_side: int = 640) -> list[dict[str, Any]]:
    """Heatmap overlays (small JPEG data URIs) for a few scanned files."""
    from forensics.decoding import ImageDecodeError, load_image
    from forensics.overlay import overlay_name, render_overlay

    out = []
    for k, r in enumerate(cases):
        item = {"path": r.path, "name": Path(r.path).name if r.path else "<array>", "set": set_of.get(r.path or "", ""),
                "score": r.score, "label": r.label, "width": r.width, "height": r.height, "uri": None,
                "provenance": _provenance_line(r.provenance)}
        try:
            rgb = load_image(r.path).rgb
            cmap = detector.cell_map(rgb)
            png = render_overlay(rgb, cmap.probabilities, cmap.stride, Path(out_dir) / overlay_name(r.path, k),
                                 score=r.score, label=r.label, threshold=r.threshold, dpi=80)
            item["uri"] = image_data_uri(png, max_side=max_side, fmt="jpeg")
        except (ImageDecodeError, OSError) as e:
            item["error"] = str(e)
        out.append(item)
    return out


def provenance_summary(analysis, max_listed: int = 20) -> dict[str, Any]:
    """Per set: how many files were inspected, how many carry provenance signals and of which kinds."""
    per_set, listed = {}, []
    for name, s in analysis.sets.items():
        inspected = with_sig = errors = 0
        kinds: Counter = Counter()
        for r in s.results:
            p = r.provenance
            if not p:
                continue
            if p.get("error"):
                errors += 1
                continue
            inspected += 1
            sigs = p.get("signals") or []
            if sigs:
                with_sig += 1
                kinds.update(str(sig.get("kind")) for sig in sigs)
                if len(listed) < max_listed:
                    listed.append({"set": name, "name": Path(r.path).name if r.path else "<array>",
                                   "signals": _provenance_line(p)})
        per_set[name] = {"n": s.n, "inspected": inspected, "with_signals": with_sig, "errors": errors,
                         "kinds": dict(kinds.most_common())}
    return {"per_set": per_set, "listed": listed,
            "inspected_any": any(v["inspected"] or v["errors"] for v in per_set.values())}


def _region_highlights(analysis) -> list[dict[str, Any]]:
    """Per set and labeller: the region top patches prefer most (share vs random share)."""
    rows = []
    for name, s in analysis.sets.items():
        for lab, counts in s.regions.items():
            table = [t for t in counts.table() if t["top"] > 0 and t["enrichment"] is not None]
            if not counts.n_images or not table:
                continue
            best = max(table, key=lambda t: (t["enrichment"], t["top"]))
            rows.append({"set": name, "labeller": lab, "n": counts.n_images, "skipped": counts.n_skipped,
                         "region": best["region"], "top_share": best["top_share"],
                         "random_share": best["random_share"], "enrichment": best["enrichment"]})
    return rows


def write_analysis_report(analysis, out: Path, *, metrics: dict[str, Any], figures: dict[str, Path],
                          cases: dict[str, list[dict[str, Any]]], title: str = "forensics report",
                          command: Optional[str] = None, notes: Sequence[str] = (), caveats: Sequence[str] = (),
                          figure_max_width: Optional[int] = None, link_figures: bool = False) -> Path:
    """One HTML page from an analysis and its metrics; images inlined as data URIs (self-contained).

    `caveats` are shown prominently above the summary table (e.g. sets the model was trained on).
    `link_figures`: refer to the figure PNGs by relative path instead of inlining them (they must then
    stay beside the page; the worst-case heatmaps are always inlined).
    """
    out = Path(out)
    figs = {k: figure_src(Path(p), out, link=link_figures, max_side=figure_max_width)
            for k, p in figures.items() if p and Path(p).is_file()}
    adict = analysis.to_dict()
    heat_rows = []
    for name, d in adict["sets"].items():
        h = d.get("heatmap")
        if h:
            q = h["quadrants"]
            heat_rows.append({"set": name, "is_real": d["is_real"], "n": d["n"], "mean": h["mean_of_map"],
                              "max": h["max_of_map"], "peak": h["peak_yx"], "quadrant": max(q, key=q.get),
                              "diff_max": (h.get("difference_to_real") or {}).get("max"),
                              "diff_peak": (h.get("difference_to_real") or {}).get("peak_yx")})
    peaks = {name: d.get("spectral_peaks") or [] for name, d in adict["sets"].items()}
    n_images = sum(s.n for s in analysis.sets.values())
    n_errors = sum(len(s.errors) for s in analysis.sets.values())
    html = _env().get_template("analysis_report.html.j2").render(
        title=title, model=analysis.model, threshold=analysis.threshold, geometry=analysis.geometry,
        when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), metrics=metrics, figs=figs, heat_rows=heat_rows,
        regions=_region_highlights(analysis), peaks=peaks, cases=cases, provenance=provenance_summary(analysis),
        sets=adict["sets"], real_names=analysis.real_names, n_images=n_images, n_errors=n_errors,
        size=analysis.size, top_k=analysis.top_k, n_extreme=analysis.n_extreme, command=command,
        notes=list(analysis.notes) + list(notes), caveats=list(caveats))
    write_atomically(out, html.encode("utf-8"))
    return out


def figure_src(png: Path, page: Path, *, link: bool = False, max_side: Optional[int] = None) -> str:
    """`src` of a figure on `page`: a data URI, or (link=True) the path relative to the page's folder."""
    if link:
        return Path(os.path.relpath(Path(png).resolve(), Path(page).resolve().parent)).as_posix()
    return image_data_uri(png, max_side=max_side)


def build_report(detector, real: Sequence[tuple[str, Path]], fakes: Sequence[tuple[str, Path]], out: Path, *,
                 limit: Optional[int] = None, **kwargs: Any) -> tuple[Path, Any, dict[str, Any]]:
    """Scan real and fake folders (NAME, DIR) once, analyse, and write one self-contained HTML report.

    `limit`: at most this many images per folder (evenly spaced). Other keywords: `report_for_sets`.
    Returns (report path, Analysis, metrics).
    """
    from forensics.analysis.pipeline import ImageSet

    sets = [ImageSet.from_folder(n, d, is_real=True, limit=limit) for n, d in real]
    sets += [ImageSet.from_folder(n, d, is_real=False, limit=limit) for n, d in fakes]
    return report_for_sets(detector, sets, out, **kwargs)


def report_for_sets(detector, sets: Sequence[Any], out: Path, *, top_k: int = 32, n_extreme: int = 16,
                    n_worst: int = 6, size: int = 64, faces: Optional[bool] = None,
                    provenance: Optional[bool] = None, title: str = "forensics report",
                    command: Optional[str] = None, figures_dir: Optional[Path] = None, progress: bool = True,
                    log: Optional[Callable[[str], None]] = None, figure_dpi: int = 80,
                    notes: Sequence[str] = (), link_figures: bool = False) -> tuple[Path, Any, dict[str, Any]]:
    """Analyse `ImageSet`s (real and fake) once and write one self-contained HTML report.

    Notes (shown in the report and passed to `log`) say when face regions are unavailable and when a
    set holds images the detector was trained on. `figures_dir` keeps the figures, analysis.json and
    metrics.json too; with `link_figures` the page refers to those files instead of inlining them.
    Returns (report path, Analysis, metrics).
    """
    if link_figures and figures_dir is None:
        raise ValueError("link_figures needs figures_dir (the figures must be kept beside the page)")
    import tempfile

    from forensics.analysis.overlap import overlap_notes
    from forensics.analysis.pipeline import analyze_sets
    from forensics.analysis.regions import default_labellers

    found: list[str] = []
    labellers = default_labellers(faces=faces, warn=found.append)
    found = [n.removeprefix("note: ") for n in found]
    caveats = overlap_notes(getattr(detector, "config", None) or {}, {s.name: s.paths for s in sets})
    if log:
        for n in found + caveats:
            log(f"note: {n}")
    analysis = analyze_sets(detector, sets, size=size, n_extreme=n_extreme, top_k=top_k, labellers=labellers,
                            provenance=provenance, progress=progress)
    metrics = detection_metrics(analysis)
    set_of = {r.path: s.name for s in analysis.sets.values() for r in s.results}
    with tempfile.TemporaryDirectory(prefix="forensics-report-") as tmp:
        fig_dir = Path(figures_dir) if figures_dir else Path(tmp)
        paths = analysis.write(fig_dir, dpi=figure_dpi)
        figures = {k: v for k, v in paths.items() if k != "analysis"}
        worst = worst_cases(analysis, n_worst)
        cases = {k: render_cases(detector, v, Path(tmp) / "cases", set_of=set_of) for k, v in worst.items()}
        if figures_dir:
            (Path(figures_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
        path = write_analysis_report(analysis, out, metrics=metrics, figures=figures, cases=cases, title=title,
                                     command=command, notes=found + list(notes), caveats=caveats,
                                     link_figures=link_figures)
    return path, analysis, metrics

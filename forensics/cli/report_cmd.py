"""`forensics report`: one self-contained HTML report for real vs named fake sets."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import fail, load_detector, warn


def report(
    real: List[str] = typer.Option(..., "--real", help="Folder of real images, or NAME=DIR (repeatable).",
                                   show_default=False),
    fake: List[str] = typer.Option(..., "--fake", help="NAME=DIR of a fake set, e.g. stylegan=fakes/sg (repeatable).",
                                   show_default=False),
    out: Path = typer.Option(..., "--out", help="HTML file to write, e.g. reports/NAME.html.", show_default=False),
    model: Optional[str] = typer.Option(None, "--model", help="Model directory or shipped model name (default: embedded)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most this many images per set (evenly spaced)."),
    top_k: int = typer.Option(32, "--top-k", min=1, help="Top patches shown per set."),
    worst: int = typer.Option(6, "--worst", min=0, help="Worst false positives / negatives shown."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Override the model's decision threshold."),
    profile: Optional[str] = typer.Option(
        None, "--profile",
        help="Use a threshold the model was calibrated for on one kind of real photo, e.g. portraits "
             "(`forensics models` lists them)."),
    title: Optional[str] = typer.Option(None, "--title", help="Report title."),
    figures_dir: Optional[Path] = typer.Option(None, "--figures-dir",
                                               help="Also keep the figures, analysis.json and metrics.json here."),
    link_figures: bool = typer.Option(False, "--link-figures", help="Refer to the figures in --figures-dir by "
                                      "relative path instead of inlining them (a smaller page)."),
    faces: Optional[bool] = typer.Option(None, "--faces/--no-faces",
                                         help="Face-region statistics with MediaPipe (default: when installed)."),
    provenance: bool = typer.Option(True, "--provenance/--no-provenance", help="Inspect provenance signals per file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Score real and fake folders and write one self-contained HTML report.

    Sections: metrics per fake set and real source, mean heatmaps, top patches, region histograms.

    Then spectra, the worst false positives and negatives with their heatmaps, and provenance.
    """
    from forensics.analysis.faces import FacesUnavailable
    from forensics.analysis.pipeline import parse_named_dirs
    from forensics.report import build_report

    try:
        reals = parse_named_dirs(real)
        fakes = parse_named_dirs(fake)
    except ValueError as e:
        fail(str(e))
    clash = sorted({n for n, _ in reals} & {n for n, _ in fakes})
    if clash:
        fail(f"set names used for both real and fake: {', '.join(clash)}")
    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out must be an .html file, got {out}")
    if link_figures and figures_dir is None:
        fail("--link-figures needs --figures-dir")
    det = load_detector(model, device, threshold, profile)
    command = "forensics " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["report"] else None
    try:
        path, analysis, metrics = build_report(
            det, reals, fakes, out, limit=limit, top_k=top_k, n_worst=worst, faces=faces,
            provenance=provenance, title=title or f"forensics report: {', '.join(n for n, _ in fakes)} vs real",
            command=command, figures_dir=figures_dir, progress=not quiet, log=warn, link_figures=link_figures)
    except FacesUnavailable as e:
        fail(str(e))
    except (OSError, ValueError) as e:
        fail(str(e))
    for name, m in metrics["fake_sets"].items():
        ap = "n/a" if m["ap"] is None else f"{m['ap']:.3f}"
        warn(f"{name}: AP {ap}, accuracy {m['accuracy']:.1%} ({m['n_fake']} fakes vs {m['n_real']} reals)")
    typer.echo(str(path))

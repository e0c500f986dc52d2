"""`forensics analyze`: where each image set's artifact evidence is (mean heatmaps, top patches, regions, spectra)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import EXIT_USAGE, fail, load_detector, warn


def analyze(
    images: List[str] = typer.Option(..., "--images", help="NAME=DIR of an image set (repeatable).", show_default=False),
    out: Path = typer.Option(..., "--out", help="Folder for the figures and analysis.json.", show_default=False),
    real: Optional[List[str]] = typer.Option(None, "--real", help="NAME of a set that holds real images (repeatable; "
                                             "default: a set named 'real', if any)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model directory or shipped model name (default: embedded)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    top_k: int = typer.Option(32, "--top-k", min=1, help="Top patches shown per set (one per image)."),
    n_extreme: int = typer.Option(16, "--extreme", min=1, help="N of the easiest / hardest mean heatmaps."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most this many images per set (evenly spaced)."),
    size: int = typer.Option(64, "--size", min=8, max=512, help="Common size of the mean heatmaps."),
    faces: Optional[bool] = typer.Option(None, "--faces/--no-faces",
                                         help="Face-region statistics with MediaPipe (default: when installed)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Where each set's artifact evidence is: mean heatmaps, top patches, regions, spectra.

    Per NAME=DIR set: mean P(fake) map (all, easiest/hardest N) and its difference to the reals.

    Also a top-K patch grid, region statistics against random patches and the mean residual spectrum.

    Writes PNG figures and analysis.json to --out.
    """
    from forensics.analysis.faces import FacesUnavailable
    from forensics.analysis.overlap import overlap_notes
    from forensics.analysis.pipeline import ImageSet, analyze_sets, parse_named_dirs
    from forensics.analysis.regions import default_labellers

    try:
        named = parse_named_dirs(images)
    except ValueError as e:
        fail(str(e))
    names = [n for n, _ in named]
    real_names = list(real or (["real"] if "real" in names else []))
    unknown = [r for r in real_names if r not in names]
    if unknown:
        fail(f"--real {', '.join(unknown)}: no such --images set (sets: {', '.join(names)})")
    if not real_names:
        warn("note: no real set (--real NAME): differences to the real mean heatmap are not computed")
    try:
        labellers = default_labellers(faces=faces, warn=warn)
    except FacesUnavailable as e:
        fail(str(e))
    det = load_detector(model, device)
    try:
        sets = [ImageSet.from_folder(n, d, is_real=n in real_names, limit=limit) for n, d in named]
    except (OSError, ValueError) as e:
        fail(str(e))
    empty = [s.name for s in sets if not s.paths]
    if empty:
        fail(f"no images in set(s): {', '.join(empty)}")
    caveats = overlap_notes(det.config, {s.name: s.paths for s in sets})
    for c in caveats:
        warn(f"note: {c}")
    analysis = analyze_sets(det, sets, size=size, n_extreme=n_extreme, top_k=top_k, labellers=labellers,
                            progress=not quiet)
    analysis.notes += caveats
    if not any(s.n for s in analysis.sets.values()):
        fail("no image could be read", EXIT_USAGE)
    for s in analysis.sets.values():
        for e in s.errors:
            warn(f"error: {e['path']}: {e['error']}")
    paths = analysis.write(out)
    for name, s in analysis.sets.items():
        sc = s.scores
        if s.n:
            warn(f"{name}: {s.n} images, mean P(fake) {sc.mean():.3f}, flagged fake {(sc >= det.threshold).mean():.1%}")
    for p in paths.values():
        typer.echo(str(p))

"""`forensics scan`: verdicts for individual images."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import EXIT_FLAGGED, EXIT_OK, EXIT_USAGE, load_detector
from forensics.cli.common import display_path as _display_path
from forensics.decoding import DEFAULT_MAX_PIXELS
from forensics.results import is_near_miss, looks_rendered


def scan(
    paths: List[Path] = typer.Argument(..., help="Image files to scan.", show_default=False),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per image on stdout."),
    heatmap_dir: Optional[Path] = typer.Option(None, "--heatmap-dir", help="Write a heatmap overlay PNG per image here."),
    model: Optional[str] = typer.Option(None, "--model", help="Model directory or shipped model name (default: embedded)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    clip: Optional[str] = typer.Option(None, "--clip", help="Path of the CLIP encoder file for the fused default "
                                       "(else $FORENSICS_CLIP_ONNX or the cache that `forensics fetch-clip` fills)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Override the model's decision threshold."),
    profile: Optional[str] = typer.Option(
        None, "--profile",
        help="Use a threshold the model was calibrated for on one kind of real photo, e.g. portraits "
             "(`forensics models` lists them)."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when an image is flagged fake."),
    provenance: Optional[bool] = typer.Option(None, "--provenance/--no-provenance",
                                              help="Inspect metadata/credentials/watermarks (default: on when available)."),
    stability: bool = typer.Option(False, "--stability", help="Re-score after realistic re-encodings; report `stable`."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1,
                                   help="Refuse images that declare more pixels than this (decompression bombs)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
) -> None:
    """Scan images: print verdict and P(fake) per image (exit 1 if any is flagged fake)."""
    from forensics.cli.checks import check_scan_args

    check_scan_args(paths, threshold=threshold, profile=profile, heatmap_dir=heatmap_dir)  # before the model loads
    det = load_detector(model, device, threshold, profile, clip)
    n_ok = n_fake = 0
    try:
        results = det.scan_many([str(p) for p in paths], batch_size=batch_size, provenance=provenance,
                                max_pixels=max_pixels)
        for i, r in enumerate(results):
            if stability and not r.is_error:
                from forensics.stability import with_stability

                r = with_stability(det, r)
            if heatmap_dir is not None and not r.is_error:
                r = _write_heatmap(det, r, heatmap_dir, i)
            if r.is_error:
                typer.echo(f"error: {display_path(r.path)}: {r.error}", err=True)
            else:
                n_ok += 1
                n_fake += r.is_fake
            if json_out:
                typer.echo(_json_line(r))
            elif not r.is_error:
                extra = "" if r.stable is None else ("  stable" if r.stable else "  UNSTABLE")
                extra += "  near threshold" if is_near_miss(r.notes) else ""
                extra += "  looks rendered, not photographed" if looks_rendered(r.notes) else ""
                typer.echo(f"{display_path(r.path)}\t{r.label.upper()}\tP(fake)={r.score:.3f} "
                           f"(threshold {r.threshold:.3f}{_branch_text(r)}){extra}")
                for note in r.notes:
                    typer.echo(f"  note: {note}")
    except Exception as e:  # unexpected: one line unless --debug
        if debug:
            raise
        typer.echo(f"error: unexpected failure: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(EXIT_USAGE)
    if n_ok == 0:
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_FLAGGED if n_fake and not exit_zero else EXIT_OK)


def _branch_text(r) -> str:
    """'; patch 0.412, clip 0.973' for a fused verdict; empty for a patch model alone."""
    b = r.branches or {}
    if not b.get("clip"):
        return ""
    kind = f", judged as a {b['clip']['kind']} image" if b["clip"].get("kind") else ""
    if "expert_logit" in b["clip"]:
        kind += " with its expert"
    return f"; patch {b['patch']['score']:.3f}, clip {b['clip']['score']:.3f}{kind}"


def display_path(path: Optional[str]) -> str:
    """`common.display_path`, plus file-name bytes that are not UTF-8 shown as \\xNN (a name like
    b'bad\\xff.png' arrives as a lone surrogate, which a UTF-8 terminal or pipe cannot encode)."""
    text = _display_path(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def _json_line(r) -> str:
    """One JSON record; a path with non-UTF-8 bytes is written with \\udcXX escapes (valid JSON that
    json.loads + os.fsencode turn back into the exact file name)."""
    import json

    line = r.to_json()
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(r.to_dict(), ensure_ascii=True, allow_nan=False)
    return line


def _write_heatmap(det, r, heatmap_dir: Path, index: int):
    """Render the overlay for a scanned file and record its path in the result."""
    from dataclasses import replace

    from forensics.decoding import ImageDecodeError, load_image
    from forensics.overlay import overlay_name, render_overlay

    try:
        decoded = load_image(r.path)
        cmap = det.cell_map(decoded)
        out = render_overlay(decoded.rgb, cmap.probabilities, cmap.stride, heatmap_dir / overlay_name(r.path, index),
                             score=r.score, label=r.label, threshold=r.threshold)
    except (ImageDecodeError, OSError) as e:
        print(f"warning: {display_path(r.path)}: heatmap not written ({e})", file=sys.stderr)
        return r
    return replace(r, heatmap={**(r.heatmap or {}), "overlay": str(out)})

"""`forensics report`: one self-contained HTML report: of an audit's JSONL (`forensics report audit.jsonl`), or an
evaluation of real vs named fake sets (`--real`/`--fake`)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import fail, load_detector, warn


def report(
    audit_jsonl: Optional[Path] = typer.Argument(
        None, metavar="AUDIT_JSONL", show_default=False,
        help="An audit's results (forensics audit --out): report what it found. Without it, --real and --fake "
             "give an evaluation report."),
    real: Optional[List[str]] = typer.Option(None, "--real", help="Folder of real images, or NAME=DIR (repeatable).",
                                             show_default=False),
    fake: Optional[List[str]] = typer.Option(None, "--fake",
                                             help="NAME=DIR of a fake set, e.g. stylegan=fakes/sg (repeatable).",
                                             show_default=False),
    out: Path = typer.Option(..., "--out", help="HTML file to write, e.g. reports/NAME.html.", show_default=False),
    top: int = typer.Option(60, "--top", min=0, help="Audit report: records shown with image and heatmap in the "
                            "gallery (fake, then uncertain, then the rest; by score)."),
    table_rows: int = typer.Option(300, "--table-rows", min=0,
                                   help="Audit report: records listed in the table of top records."),
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
    """Write one self-contained HTML report: of an audit's JSONL, or of real vs fake folders.

    forensics report audit.jsonl --out report.html: counts per verdict, the score histogram, a gallery of
    the top records with heatmaps, notes and provenance, the unreadable files and the audit's summary.

    forensics report --real DIR --fake NAME=DIR --out report.html: metrics per fake set and real
    source, mean heatmaps, top patches, region histograms, spectra, the worst errors, provenance.
    """
    if audit_jsonl is not None:
        if real or fake:
            fail("give an audit's JSONL or --real/--fake folders, not both")
        for flag, given in (("--limit", limit is not None), ("--threshold", threshold is not None),
                            ("--profile", profile is not None), ("--figures-dir", figures_dir is not None),
                            ("--link-figures", link_figures), ("--faces", faces is not None)):
            if given:
                fail(f"{flag} is for an evaluation report (--real/--fake), not for the report of an audit")
        if out.suffix.lower() not in (".html", ".htm"):
            fail(f"--out must be an .html file, got {out}")
        write_audit_html(audit_jsonl, out, top=top, table_rows=table_rows, model=model, device=device,
                         title=title, quiet=quiet)
        return
    if not real or not fake:
        fail("give an audit's JSONL (forensics report audit.jsonl --out report.html), or --real and --fake "
             "folders for an evaluation report")
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


def write_audit_html(jsonl: Path, out: Path, *, top: int = 60, table_rows: int = 300, model: Optional[str] = None,
                     device: str = "auto", detector=None, title: Optional[str] = None, quiet: bool = False,
                     echo_path: bool = True) -> None:
    """The report of an audit (shared by `forensics report AUDIT_JSONL` and `forensics audit --report`);
    exits 2 with one `error:` line for an unusable JSONL or an unwritable --out. The page's path goes
    to stdout (`echo_path`) or, for the audit, to stderr with its other messages."""
    import time

    from forensics.audit_report import AuditReportError, write_audit_report
    from forensics.fileio import output_path_problem

    problem = output_path_problem(out)
    if problem:
        fail(problem)
    command = "forensics " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] in (["report"], ["audit"]) \
        else None
    t0 = time.perf_counter()

    def progress(k: int, n: int) -> None:
        if not quiet and (k == n or k % 10 == 0):
            warn(f"report: gallery {k}/{n}")

    try:
        info = write_audit_report(jsonl, out, top=top, table_rows=table_rows, detector=detector, model=model,
                                  device=device, title=title, command=command, log=warn,
                                  progress=progress)
    except AuditReportError as e:
        fail(str(e))
    except OSError as e:
        fail(f"{out}: cannot be written ({e.strerror or e})")
    if not quiet:
        counts = ", ".join(f"{k} {n}" for k, n in info["counts"].items())
        warn(f"report of {info['records']} records ({counts}); gallery {info['gallery']} "
             f"({info['with_image']} with image), {info['bytes'] / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s "
             f"(reading {info['seconds_read']:.1f} s, detector load {info['seconds_detector_load']:.1f} s, gallery "
             f"{info['seconds_gallery'] - info['seconds_detector_load']:.1f} s)")
    if echo_path:
        typer.echo(str(info["path"]))
    elif not quiet:
        warn(f"report: {info['path']}")

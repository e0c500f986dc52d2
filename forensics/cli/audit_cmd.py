"""`forensics audit`: streaming, resumable batch audit of folders to JSONL/CSV."""
from __future__ import annotations

import signal
from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import EXIT_FLAGGED, EXIT_OK, fail, load_detector, warn
from forensics.decoding import DEFAULT_MAX_PIXELS


def audit(
    paths: List[str] = typer.Argument(..., help="Folders (or files) to audit; s3://... etc. with --engine ray.",
                                      show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Results JSONL (appended; rerun to resume)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Also write a CSV (atomically, at the end)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model directory or shipped model name (default: embedded)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="Images per forward pass (default: 16 on the CPU, 64 on a GPU)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0,
                                          help="Decode processes (0 = decode in the main process; default: cores-1). "
                                               "With --engine ray: number of model actors."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive", help="Descend into subfolders."),
    include: Optional[List[str]] = typer.Option(None, "--include",
                                                help="Only files matching this glob (name or relative path); repeatable. "
                                                     "Default: known image extensions."),
    by_hash: bool = typer.Option(False, "--by-hash", help="Resume by path + content sha256 instead of path + size + mtime."),
    dedupe: bool = typer.Option(False, "--dedupe", help="Score identical content once; copies get the first one's score."),
    engine: str = typer.Option("local", "--engine", help="local (process pool) or ray (Ray Data)."),
    backend: str = typer.Option("auto", "--backend",
                                help="Forward pass: auto (ONNX Runtime on CPU when installed, else PyTorch), torch or onnx."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", help="Refuse images with more pixels than this."),
    profile: Optional[str] = typer.Option(
        None, "--profile",
        help="Use a threshold the model was calibrated for on one kind of real photo, e.g. portraits "
             "(`forensics models` lists them); an --out made at another threshold is refused."),
    provenance: Optional[bool] = typer.Option(None, "--provenance/--no-provenance",
                                              help="Inspect metadata/credentials/watermarks (default: on when available)."),
    report: Optional[Path] = typer.Option(None, "--report",
                                          help="Also write the HTML report of the audit here (as `forensics "
                                               "report OUT --out REPORT` would), after the audit."),
    report_top: int = typer.Option(60, "--report-top", min=0,
                                   help="Records shown with image and heatmap in the --report gallery."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary on stderr."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when an image is flagged fake."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
) -> None:
    """Audit folders: one JSON record per image in --out, resumable, with a summary (exit 1 if any is flagged fake)."""
    from forensics.audit import AuditError, check_inputs
    from forensics.audit import audit as run_audit

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    if max_pixels < 1:
        fail("--max-pixels must be positive")
    try:  # usage errors before the model is loaded (fast, one line)
        check_inputs(paths, out, engine=engine, batch_size=batch_size or 1, backend=backend, csv=csv_out)
    except AuditError as e:
        fail(str(e))
    if report is not None:
        from forensics.fileio import output_path_problem

        if report.suffix.lower() not in (".html", ".htm"):
            fail(f"--report must be an .html file, got {report}")
        problem = output_path_problem(report)
        if problem:
            fail(problem)
    if backend == "onnx":
        from forensics.audit.backend import ONNX_MISSING, onnx_available

        if not onnx_available():
            fail(ONNX_MISSING)
    if engine == "ray":
        from forensics.audit.ray_engine import ray_available

        if not ray_available():
            fail("--engine ray needs Ray: pip install 'forensics[ray]' (or pip install 'ray[data]')")
    detector = load_detector(model, device) if engine == "local" else None

    def _term(signum, frame):  # SIGTERM: stop like Ctrl-C, keeping what was written
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not in the main thread (tests)
        pass
    try:
        summary = run_audit(paths, out, detector=detector, model=model, device=device, engine=engine, backend=backend,
                            batch_size=batch_size, workers=workers, recursive=recursive, include=include or (),
                            by_hash=by_hash, dedupe=dedupe, max_pixels=max_pixels, provenance=provenance,
                            csv=csv_out, progress=not quiet, log=warn, profile=profile)
    except AuditError as e:
        fail(str(e))
    except KeyboardInterrupt:
        warn("interrupted: rerun the same command to resume")
        raise typer.Exit(130)
    except Exception as e:  # unexpected: one line unless --debug
        if debug:
            raise
        fail(f"unexpected failure: {type(e).__name__}: {e}")
    if summary.interrupted:
        warn("interrupted: rerun the same command to resume")
        if not quiet:
            warn(summary.format_text())
        raise typer.Exit(130)
    if not quiet:
        warn(summary.format_text())
        warn(f"results: {out}" + (f", {csv_out}" if csv_out else "") + f", summary: {summary.summary_path}")
    if report is not None and summary.records:
        from forensics.cli.report_cmd import write_audit_html

        write_audit_html(out, report, top=report_top, model=model, device=device,
                         detector=detector, quiet=quiet, echo_path=False)
    n_ok = summary.records - summary.n_errors
    if n_ok == 0:  # nothing readable (an empty folder, only other file types, only unreadable files)
        ignored = summary.ignored.get("count", 0)
        fail("no readable input: " + (f"{summary.n_errors} unreadable file(s)" if summary.records else
                                      f"no image files found in {', '.join(paths)}") +
             (f", {ignored} file(s) of other types ignored" if ignored else "") + f" (see {summary.summary_path})")
    raise typer.Exit(EXIT_FLAGGED if summary.n_fake and not exit_zero else EXIT_OK)


if __name__ == "__main__":  # `python -m forensics.cli.audit_cmd` (same as `forensics audit`)
    typer.run(audit)

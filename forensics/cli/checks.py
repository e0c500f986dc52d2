"""Argument checks that answer at once: run before the model (and torch) is loaded, which takes seconds."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

from forensics.cli.common import display_path, fail, warn
from forensics.fileio import output_path_problem


def check_verdict_args(threshold: Optional[float], profile: Optional[str]) -> None:
    """Exit 2 on a --threshold outside [0, 1] or one given together with --profile."""
    if threshold is not None and profile is not None:
        fail("--threshold and --profile both set the verdict threshold; give one")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        fail(f"--threshold must be in [0, 1], got {threshold}")


def check_scan_args(paths: Sequence[Union[str, Path]], *, threshold: Optional[float], profile: Optional[str],
                    heatmap_dir: Optional[Path]) -> None:
    """`forensics scan`'s checks: the verdict options, the heatmap folder, and the files. When none of the
    files exists, each gets its error line and the scan exits 2 without loading the model; a missing file
    among existing ones is reported in its place, as before."""
    check_verdict_args(threshold, profile)
    if heatmap_dir is not None:
        problem = output_path_problem(heatmap_dir, directory=True)
        if problem:
            fail(f"--heatmap-dir {problem}")
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing and len(missing) == len(paths):
        for p in missing[:-1]:
            warn(f"error: {display_path(str(p))}: file not found")
        fail(f"{display_path(str(missing[-1]))}: file not found")

"""Small helpers shared by CLI commands: error lines, detector loading, safe path display."""
from __future__ import annotations

import sys
from typing import NoReturn, Optional

import typer

EXIT_OK, EXIT_FLAGGED, EXIT_USAGE = 0, 1, 2


def display_path(path: Optional[str]) -> str:
    """A path printable on one terminal line (control characters escaped)."""
    if path is None:
        return "<array>"
    return path.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 for c in path) else path


def warn(msg: str) -> None:
    typer.echo(msg, err=True)


def fail(msg: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def load_detector(model: Optional[str], device: str, threshold: Optional[float] = None,
                  profile: Optional[str] = None, clip: Optional[str] = None):
    """Load a Detector or exit 2 with one clear line; `threshold` or a threshold `profile` (not both)
    replaces its verdict threshold. A fused model whose pretrained file is missing loads with its patch
    model alone, and a warning says so on stderr."""
    from forensics.checkpoint import CheckpointError
    from forensics.detector import Detector
    from forensics.pretrained.clip_file import PretrainedFileError

    if threshold is not None and profile is not None:
        fail("--threshold and --profile both set the verdict threshold; give one")
    try:
        det = Detector.load(model, device=device, clip=clip)
        if det.branch_note:
            warn(f"warning: {det.branch_note}")
        if profile is not None:
            det.use_profile(profile)
    except (CheckpointError, ValueError, RuntimeError, PretrainedFileError) as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            fail(f"--threshold must be in [0, 1], got {threshold}")
        det.threshold = threshold
    return det


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def parse_weighted(specs: list[str], what: str, example: str, *, bare: Optional[float] = None) -> dict[str, float]:
    """`NAME=NUMBER` arguments -> {NAME: NUMBER}; a bare NAME gets `bare` (when given). A malformed one
    exits 2 with a line naming `what` and an `example`."""
    out: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.rpartition("=")
        if not sep and bare is not None:
            name, value = spec, str(bare)
        try:
            if not name:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            fail(f"{what} {spec!r}: expected {example}")
    return out

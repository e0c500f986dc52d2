"""Image files of a folder and the deterministic file-level validation split: what scanning, evaluation,
calibration, analysis and training all list their files with (`forensics.training.data` builds the training
streams on top)."""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from forensics.decoding import IMAGE_EXTENSIONS

REAL, FAKE = 0, 1


def warn_skipped(path: Path, reason: str, what: str = "training") -> None:
    """One line on stderr for a file left out of training/validation (decoding failed)."""
    name = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in os.fspath(path))  # a newline in a file name must not split the line
    print(f"warning: skipping unreadable {what} file {name}: {reason}", file=sys.stderr, flush=True)


def list_images(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Image files under a folder, sorted, by extension (case-insensitive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a directory")
    walker = folder.rglob("*") if recursive else folder.glob("*")
    # Everything with an image extension except directories: broken links, link loops, FIFOs and
    # unreadable files stay in the list so that decoding reports them (eval lists them in `errors`).
    return sorted(p for p in walker if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_dir())


def in_validation(path: Path, fraction: float) -> bool:
    """Deterministic file-level split by hashing the file name (stable across machines)."""
    # surrogateescape: a file name with non-UTF-8 bytes hashes by those bytes (same split for valid names)
    h = int(hashlib.sha1(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:8], 16)
    return (h % 10_000) < fraction * 10_000

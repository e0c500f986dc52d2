"""Temp files for atomic writes (write, fsync, rename) that end up with ordinary file permissions."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Union


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mkstemp_for(path: Union[str, Path], prefix: Optional[str] = None) -> tuple[int, str]:
    """`tempfile.mkstemp` next to `path` for an atomic write, with the permissions an ordinary new file
    gets (0666 less the umask, e.g. 0644) instead of mkstemp's 0600, so the renamed file is readable
    like any other output."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except (OSError, AttributeError):  # pragma: no cover - platforms without fchmod
        pass
    return fd, tmp


@contextlib.contextmanager
def replaced_atomically(path: Union[str, Path]) -> Iterator[str]:
    """Yield a temp file path beside `path` (ordinary permissions) for the caller to write; when the block
    ends normally the file is fsynced and renamed over `path`, when it raises the temp file is removed:
    `path` is never torn."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp_for(path)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomically(path: Union[str, Path], data: bytes) -> None:
    """Write `data` to `path` through `replaced_atomically`: never a torn file."""
    with replaced_atomically(path) as tmp:
        Path(tmp).write_bytes(data)


def output_path_problem(path: Union[str, Path], *, directory: bool = False) -> Optional[str]:
    """Why `path` cannot be written as an output file (or, with `directory`, made as a folder), checked
    without writing anything: an existing entry of the wrong kind, a parent that is a file, or a nearest
    existing parent that is not writable. None when it looks writable."""
    p = Path(path)
    if p.exists():
        if directory and not p.is_dir():
            return f"{p}: exists and is not a folder"
        if not directory and p.is_dir():
            return f"{p}: is a folder; give a file path"
        return None
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{p}: cannot be created ({parent} is not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{p}: cannot be created ({parent} is not writable)"
    return None

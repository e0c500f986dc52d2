"""Decode step of an audit, run in worker processes: read once, check the file did not change, decode.

Kept free of torch imports so that worker processes start quickly.
"""
from __future__ import annotations

import errno
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from forensics.decoding import DEFAULT_MAX_BYTES, ImageDecodeError, decode_bytes, extension_note, sha256_bytes


@dataclass
class Decoded:
    """What a worker sends back: pixels + file facts, or a one-line error."""

    path: str
    size: Optional[int]
    mtime: Optional[float]
    rgb: Optional[np.ndarray] = None
    sha256: Optional[str] = None
    format: Optional[str] = None
    notes: tuple[str, ...] = ()
    error: Optional[str] = None
    seconds: float = 0.0
    provenance: Optional[dict[str, Any]] = field(default=None)


def _read(path: str, size: Optional[int], mtime: Optional[float], max_bytes: int) -> bytes:
    listed = size is not None
    try:
        # non-blocking open: a file swapped for a FIFO after listing must not hang the worker
        # (fstat below then refuses it); O_NONBLOCK has no effect on reads of regular files
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
            getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fh = os.fdopen(os.open(path, flags), "rb")
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageDecodeError("broken symbolic link") from None
        raise ImageDecodeError("file vanished during the audit" if listed else "file not found") from None
    except IsADirectoryError:
        raise ImageDecodeError("is a directory, not an image file") from None
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ImageDecodeError("symbolic link loop") from None
        raise ImageDecodeError(f"cannot open file: {e.strerror or e}") from None
    with fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise ImageDecodeError("is a directory, not an image file")
        if not stat.S_ISREG(st.st_mode):
            raise ImageDecodeError("not a regular file")
        if listed and (st.st_size != size or st.st_mtime != mtime):
            raise ImageDecodeError(
                f"file changed during the audit (listed {size} bytes, now {st.st_size} bytes"
                f"{'' if st.st_mtime == mtime else ', modification time changed'})")
        if st.st_size == 0:
            raise ImageDecodeError("empty file (0 bytes)")
        if st.st_size > max_bytes:
            raise ImageDecodeError(f"file too large ({st.st_size} bytes > limit {max_bytes})")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as e:
            raise ImageDecodeError(f"cannot read file: {e.strerror or e}") from None
        st2 = os.fstat(fh.fileno())
    if len(data) != st.st_size or st2.st_size != st.st_size or st2.st_mtime != st.st_mtime:
        raise ImageDecodeError(f"file changed while it was read ({st.st_size} -> {len(data)} bytes)")
    return data


def decode_file(path: str, size: Optional[int], mtime: Optional[float], max_pixels: int,
                provenance: Optional[bool] = False, max_bytes: int = DEFAULT_MAX_BYTES) -> Decoded:
    """Read, hash and decode one file. Never raises for bad input: returns `Decoded(error=...)`."""
    t0 = time.perf_counter()
    out = Decoded(path=path, size=size, mtime=mtime)
    try:
        data = _read(path, size, mtime, max_bytes)
        out.sha256 = sha256_bytes(data)
        out.rgb, out.format, out.notes = decode_bytes(data, max_pixels=max_pixels)
        del data
        note = extension_note(path, out.format)  # same note as `scan` (e.g. PNG content named .jpg)
        if note:
            out.notes = out.notes + (note,)
        if provenance is not False:
            from forensics.provenance_hook import provenance_for

            out.provenance = provenance_for(path, provenance)
    except ImageDecodeError as e:
        out.error = " ".join(str(e).split())
    except MemoryError:
        out.error = "not enough memory to decode image"
    except Exception as e:  # a decoder bug must not stop the audit
        out.error = f"unexpected decoder failure: {type(e).__name__}: {' '.join(str(e).split())}"
    out.seconds = time.perf_counter() - t0
    return out


def decode_bytes_item(path: str, data: bytes, max_pixels: int) -> Decoded:
    """Decode bytes already read by someone else (the Ray engine's readers)."""
    t0 = time.perf_counter()
    out = Decoded(path=path, size=len(data), mtime=None)
    try:
        if not data:
            raise ImageDecodeError("empty file (0 bytes)")
        out.sha256 = sha256_bytes(data)
        out.rgb, out.format, out.notes = decode_bytes(data, max_pixels=max_pixels)
        note = extension_note(path, out.format)
        if note:
            out.notes = out.notes + (note,)
    except ImageDecodeError as e:
        out.error = " ".join(str(e).split())
    except Exception as e:  # pragma: no cover - defensive
        out.error = f"unexpected decoder failure: {type(e).__name__}: {' '.join(str(e).split())}"
    out.seconds = time.perf_counter() - t0
    return out


def worker_init(parent_pid: int) -> None:
    """Worker process set-up: die with the parent (even on SIGKILL), stay single-threaded."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:  # Linux: ask the kernel to kill us when the parent dies
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent_pid:  # parent already gone before prctl took effect
        os._exit(0)

    def watch() -> None:  # portable fallback
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    try:  # Ctrl-C is handled by the parent, which shuts the pool down
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except Exception:
        pass

"""The audit's JSONL results file: crash-safe appends, torn-line repair, resume and dedupe indexes.

Every record is one line written with a single `write()` on an O_APPEND descriptor and the file is
fsync'd at intervals, so after any crash the file is a sequence of complete lines possibly followed
by one torn line (or zero bytes after a power loss), which `open_ledger` truncates away.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from forensics.fileio import replaced_atomically


@dataclass
class RepairReport:
    """What was wrong with an existing results file and what was done about it."""

    records: int = 0
    torn_bytes: int = 0          # bytes of an incomplete/invalid tail that were truncated
    invalid_lines: int = 0       # complete but unparsable lines in the middle (dropped by a rewrite)

    @property
    def repaired(self) -> bool:
        return bool(self.torn_bytes or self.invalid_lines)

    def describe(self) -> str:
        parts = []
        if self.torn_bytes:
            parts.append(f"truncated a torn last line ({self.torn_bytes} bytes) left by an interrupted run")
        if self.invalid_lines:
            parts.append(f"dropped {self.invalid_lines} unparsable line(s)")
        return "; ".join(parts)


def _digest(*parts: Any) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(repr(p).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.digest()


def record_key(path: Optional[str], size: Optional[int], mtime: Optional[float], sha256: Optional[str],
               model: Optional[str], by_hash: bool) -> bytes:
    """Resume key: path + size + mtime (default) or path + content hash (`by_hash`), per model."""
    if by_hash:
        return _digest("h", path, sha256, model)
    return _digest("s", path, size, float(mtime) if mtime is not None else None, model)


def _parse(line: bytes) -> Optional[dict[str, Any]]:
    if not line.endswith(b"\n"):
        return None
    try:
        rec = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(rec, dict) or "path" not in rec or "label" not in rec:
        return None
    return rec


def iter_records(path: Union[str, Path]) -> Iterator[dict[str, Any]]:
    """Valid records of a results file, streaming (torn or invalid lines skipped)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            rec = _parse(line)
            if rec is not None:
                yield rec


class Ledger:
    """Append-only JSONL of ScanResult records with resume and dedupe lookups."""

    def __init__(self, path: Union[str, Path], *, model: Optional[str], by_hash: bool = False,
                 dedupe: bool = False, fsync_every: int = 256, fsync_seconds: float = 2.0) -> None:
        self.path = Path(path)
        self.model = model
        self.by_hash = by_hash
        self.dedupe = dedupe
        self.fsync_every = fsync_every
        self.fsync_seconds = fsync_seconds
        self._keys: set[bytes] = set()
        self._paths: set[bytes] = set()
        self._by_hash: dict[str, tuple[int, int]] = {}  # sha256 -> (offset, length) of first scored record
        self._fd: Optional[int] = None
        self._size = 0
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self.thresholds: set[float] = set()  # verdict thresholds of this model's records
        self.superseded = 0  # records appended for a path that already had one (file changed)
        self.appended = 0
        self.repair = RepairReport()

    # ------------------------------------------------------------------ opening / repair
    def open(self) -> RepairReport:
        """Repair a torn tail, index existing records and open for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rep = RepairReport()
        good_end = 0
        offset = 0
        if self.path.exists():
            with open(self.path, "rb") as fh:
                for line in fh:
                    rec = _parse(line)
                    if rec is None:
                        rep.invalid_lines += 1
                    else:
                        self._index(rec, offset, len(line))
                        rep.records += 1
                        good_end = offset + len(line)
                    offset += len(line)
            total = offset
            # invalid lines after the last valid one are a torn tail: truncate in place
            tail_invalid = self._count_invalid_after(good_end)
            if total > good_end:
                rep.torn_bytes = total - good_end
                rep.invalid_lines -= tail_invalid
                with open(self.path, "r+b") as fh:
                    fh.truncate(good_end)
                    fh.flush()
                    os.fsync(fh.fileno())
            if rep.invalid_lines:
                self._rewrite_valid()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._size = os.fstat(self._fd).st_size
        if rep.invalid_lines:  # offsets changed: rebuild the index
            self._keys.clear(), self._paths.clear(), self._by_hash.clear()
            self.superseded = 0
            self._reindex()
        self.repair = rep
        return rep

    def _count_invalid_after(self, good_end: int) -> int:
        n = 0
        with open(self.path, "rb") as fh:
            fh.seek(good_end)
            for _ in fh:
                n += 1
        return n

    def _rewrite_valid(self) -> None:
        with replaced_atomically(self.path) as tmp, open(tmp, "wb") as out, open(self.path, "rb") as src:
            for line in src:
                if _parse(line) is not None:
                    out.write(line)

    def _reindex(self) -> None:
        offset = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                rec = _parse(line)
                if rec is not None:
                    self._index(rec, offset, len(line))
                offset += len(line)

    def _index(self, rec: dict[str, Any], offset: int, length: int) -> None:
        path = rec.get("path")
        pkey = _digest("p", path)
        if pkey in self._paths:
            self.superseded += 1
        self._paths.add(pkey)
        self._keys.add(record_key(path, rec.get("file_size"), rec.get("mtime"), rec.get("sha256"),
                                  rec.get("model"), self.by_hash))
        if rec.get("model") == self.model and isinstance(rec.get("threshold"), (int, float)):
            self.thresholds.add(float(rec["threshold"]))
        sha = rec.get("sha256")
        if (self.dedupe and sha and rec.get("label") != "error" and sha not in self._by_hash
                and rec.get("model") == self.model):
            self._by_hash[sha] = (offset, length)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self._keys)

    def is_done(self, path: str, size: Optional[int], mtime: Optional[float],
                sha256: Optional[str] = None) -> bool:
        return record_key(path, size, mtime, sha256, self.model, self.by_hash) in self._keys

    def knows_path(self, path: str) -> bool:
        return _digest("p", path) in self._paths

    def first_with_hash(self, sha256: Optional[str]) -> Optional[dict[str, Any]]:
        """The first scored record with this content hash (dedupe), read back from the file."""
        if not sha256 or sha256 not in self._by_hash:
            return None
        off, length = self._by_hash[sha256]
        assert self._fd is not None
        with open(self.path, "rb") as fh:
            fh.seek(off)
            rec = _parse(fh.read(length))
        return rec

    # ------------------------------------------------------------------ writing
    def append(self, rec: dict[str, Any]) -> None:
        """Append one record as one complete line (single write on an O_APPEND descriptor)."""
        assert self._fd is not None, "ledger not open"
        try:
            data = (json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a non-UTF-8 file name: \udcXX escapes keep the line valid UTF-8 JSON
            data = (json.dumps(rec, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._index(rec, self._size, len(data))
        self._size += len(data)
        self.appended += 1
        self._unsynced += 1
        now = time.monotonic()
        if self._unsynced >= self.fsync_every or now - self._last_sync >= self.fsync_seconds:
            self.sync()

    def sync(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None

    def compact(self) -> int:
        """Keep only the last record per path (after files changed and were re-audited). Atomic."""
        if not self.superseded:
            return 0
        was_open = self._fd is not None
        self.close()
        last: dict[bytes, int] = {}
        with open(self.path, "rb") as fh:
            for i, line in enumerate(fh):
                rec = _parse(line)
                if rec is not None:
                    last[_digest("p", rec.get("path"))] = i
        keep = set(last.values())
        del last
        dropped = 0
        with replaced_atomically(self.path) as tmp, open(tmp, "wb") as out, open(self.path, "rb") as src:
            for i, line in enumerate(src):
                if i in keep:
                    out.write(line)
                else:
                    dropped += 1
        self._keys.clear(), self._paths.clear(), self._by_hash.clear()
        self.superseded = 0
        self._reindex()
        if was_open:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            self._size = os.fstat(self._fd).st_size
        return dropped

    def __enter__(self) -> "Ledger":
        if self._fd is None:
            self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

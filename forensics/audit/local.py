"""Local audit engine: decode in worker processes (bounded window), batched inference, append records."""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import deque
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Optional

from forensics.audit.decode import Decoded, decode_file, worker_init
from forensics.audit.ledger import Ledger
from forensics.audit.walk import Candidate
from forensics.decoding import DecodedImage
from forensics.results import error_result


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """While a decode worker is spawned, hide the caller's `__main__` from multiprocessing, so the worker
    does not import (run) the caller's script or `-m` module. The workers run only functions of
    `forensics.audit.decode`, imported by name, so they never need `__main__`; and a plain script that
    calls `forensics.audit()` without an `if __name__ == "__main__":` guard would otherwise run again in
    every worker, which fails there and breaks the pool (BrokenProcessPool)."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__file__", None)
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def default_workers() -> int:
    """Decode processes: leave one core to inference; at least 1, at most 8."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, n - 1))


def default_batch_size(device: str) -> int:
    """Images per forward pass: 64 on a GPU (1.6x the end-to-end images/s of 16 on an H200,
    `reports/gpu_check.md`), 16 on the CPU, where larger batches gain nothing and hold more memory."""
    name = str(device).lower()
    if name == "auto":
        import torch

        name = "cuda" if torch.cuda.is_available() else "cpu"
    return 64 if name.startswith("cuda") else 16


@dataclass
class RunStats:
    scored: int = 0       # records written (scored, errors and duplicates)
    skipped: int = 0      # already in the ledger
    duplicates: int = 0   # copies of content scored before (--dedupe)
    errors: int = 0
    interrupted: bool = False


class _Done:
    """A completed 'future' for in-process decoding (workers=0)."""

    def __init__(self, value: Decoded) -> None:
        self._value = value

    def result(self) -> Decoded:
        return self._value


class RecordWriter:
    """Turns decoded images into records: size-bucketed batches, dedupe, and ledger appends."""

    def __init__(self, detector: Any, ledger: Any, stats: RunStats, *, batch_size: int, dedupe: bool,
                 max_pixels: int, tick: Callable[[int], None]) -> None:
        self.det = detector
        self.ledger = ledger
        self.stats = stats
        self.batch_size = max(1, batch_size)
        self.dedupe = dedupe
        self.max_pixels = max_pixels
        self.tick = tick
        self.buckets: dict[tuple[int, int], list[Decoded]] = {}
        self.pending = 0
        self.leaders: dict[str, list[Decoded]] = {}  # sha256 -> copies waiting for the first one's score
        tile = getattr(getattr(detector, "preprocessing", None), "tile", 1024)
        self.tile = int(tile)

    # ------------------------------------------------------------------ public
    def add(self, d: Decoded) -> None:
        if d.error is not None:
            self._write(error_result(d.path, d.error, model=self.det.model_id, threshold=self.det.threshold,
                                     file_size=d.size, mtime=d.mtime, sha256=d.sha256,
                                     seconds=round(d.seconds, 4)).to_dict())
            self.stats.errors += 1
            return
        if self.dedupe and d.sha256:
            if d.sha256 in self.leaders:
                self.leaders[d.sha256].append(d)
                return
            first = self.ledger.first_with_hash(d.sha256)
            if first is not None:
                self._write_copy(first, d)
                return
            self.leaders[d.sha256] = []
        assert d.rgb is not None
        h, w = d.rgb.shape[:2]
        if max(h, w) > self.tile:  # tiled path: scored alone
            self._score([d])
            return
        bucket = self.buckets.setdefault((h, w), [])
        bucket.append(d)
        self.pending += 1
        if len(bucket) >= self.batch_size:
            self._flush((h, w))
        elif self.pending >= 2 * self.batch_size:  # bound memory: flush the fullest bucket
            self._flush(max(self.buckets, key=lambda k: len(self.buckets[k])))

    def flush_all(self) -> None:
        for key in list(self.buckets):
            self._flush(key)

    # ------------------------------------------------------------------ internals
    def _flush(self, key: tuple[int, int]) -> None:
        items = self.buckets.pop(key, [])
        self.pending -= len(items)
        if items:
            self._score(items)

    def _score(self, items: list[Decoded]) -> None:
        images = [DecodedImage(rgb=d.rgb, format=d.format or "unknown", sha256=d.sha256, file_size=d.size,
                               mtime=d.mtime, notes=d.notes) for d in items]
        t0 = time.perf_counter()
        results = list(self.det.scan_many(images, batch_size=len(images), provenance=False,
                                          max_pixels=self.max_pixels, paths=[d.path for d in items]))
        share = (time.perf_counter() - t0) / len(items)
        for d, r in zip(items, results):
            d.rgb = None  # free pixels early
            r = replace(r, path=d.path, file_size=d.size, mtime=d.mtime, provenance=d.provenance,
                        seconds=round(d.seconds + share, 4))
            rec = r.to_dict()
            self._write(rec)
            if r.is_error:
                self.stats.errors += 1
            for copy in self.leaders.pop(d.sha256, []) if self.dedupe and d.sha256 else []:
                self._write_copy(rec, copy)

    def _write_copy(self, first: dict[str, Any], d: Decoded) -> None:
        rec = dict(first)
        first_path = first.get("path")
        rec.update(path=d.path, file_size=d.size, mtime=d.mtime, seconds=round(d.seconds, 4),
                   provenance=d.provenance if d.provenance is not None else first.get("provenance"))
        rec["notes"] = [n for n in (first.get("notes") or []) if not str(n).startswith("duplicate of ")]
        rec["notes"].append(f"duplicate of {first_path} (same sha256): scored once")
        rec["extra"] = {**(first.get("extra") or {}), "duplicate_of": first_path}
        self._write(rec)
        self.stats.duplicates += 1

    def _write(self, rec: dict[str, Any]) -> None:
        self.ledger.append(rec)
        self.stats.scored += 1
        self.tick(1)


def run_local(candidates: Iterable[Candidate], detector: Any, ledger: Ledger, *, batch_size: int = 16,
              workers: Optional[int] = None, max_pixels: int, provenance: Optional[bool] = None,
              dedupe: bool = False, tick: Callable[[int], None] = lambda n: None) -> RunStats:
    """Audit candidates not yet in the ledger; returns this run's counts. Ctrl-C stops cleanly."""
    stats = RunStats()
    workers = default_workers() if workers is None else max(0, int(workers))
    writer = RecordWriter(detector, ledger, stats, batch_size=batch_size, dedupe=dedupe,
                          max_pixels=max_pixels, tick=tick)
    model, thr = detector.model_id, detector.threshold
    executor: Optional[ProcessPoolExecutor] = None
    if workers > 0:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=worker_init, initargs=(os.getpid(),))
    window: deque[Any] = deque()
    max_inflight = max(2 * workers, 2) + batch_size
    try:
        for c in candidates:
            if _already_done(ledger, c):
                stats.skipped += 1
                tick(1)
                continue
            if c.error is not None:
                writer._write(error_result(c.path, c.error, model=model, threshold=thr, file_size=c.size,
                                           mtime=c.mtime).to_dict())
                stats.errors += 1
                continue
            if executor is not None:
                with main_module_hidden():  # a submit may spawn a worker (spawn context: on demand)
                    window.append(executor.submit(decode_file, c.path, c.size, c.mtime, max_pixels, provenance))
            else:
                window.append(_Done(decode_file(c.path, c.size, c.mtime, max_pixels, provenance)))
            while len(window) >= max_inflight:
                writer.add(window.popleft().result())
        while window:
            writer.add(window.popleft().result())
        writer.flush_all()
    except KeyboardInterrupt:
        stats.interrupted = True
        for f in window:
            if isinstance(f, Future):
                f.cancel()
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        ledger.sync()
    return stats


def _already_done(ledger: Ledger, c: Candidate) -> bool:
    if not ledger.by_hash or c.error is not None:
        return ledger.is_done(c.path, c.size, c.mtime)
    if not ledger.knows_path(c.path):
        return False
    from forensics.decoding import sha256_bytes

    try:
        with open(c.path, "rb") as fh:
            sha = sha256_bytes(fh.read())
    except OSError:
        return False
    return ledger.is_done(c.path, c.size, c.mtime, sha)

"""Ray Data engine: the same audit on a Ray cluster (`--engine ray`, optional extra `forensics[ray]`).

The driver lists files (our walker for local folders, pyarrow filesystems for URIs such as
s3://...), drops those already in the ledger, and feeds the rest in chunks to Ray Data:
`from_items` (local paths, read and decoded by the actors with the same change checks as the
local engine) or `read_binary_files` (URIs), then `map_batches` with `_Scorer`, a callable class
holding one Detector per actor (a GPU per actor when the cluster has GPUs). Records come back to
the driver, which appends them to the same JSONL through the same ledger (resume, torn-line repair,
dedupe) as the local engine.
"""
from __future__ import annotations

import importlib.util
import json
import os
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from forensics.audit.local import RecordWriter, RunStats
from forensics.audit.walk import Candidate, FileFilter
from forensics.results import error_result

RAY_MISSING = "the Ray engine needs Ray: pip install 'forensics[ray]' (or pip install 'ray[data]')"
CHUNK = 20_000  # files per Ray dataset; actors are re-created per chunk, so keep it large


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None


class _ListSink:
    """Collects records in an actor (the driver owns the real ledger)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    def first_with_hash(self, sha: Optional[str]) -> None:
        return None


class _Scorer:
    """Ray Data callable class: one Detector per actor; a batch of files in, JSON records out."""

    def __init__(self, model: Optional[str], device: str, max_pixels: int, provenance: Optional[bool],
                 batch_size: int, threads: int = 0, backend: str = "auto", threshold: Optional[float] = None) -> None:
        import torch

        from forensics.audit.backend import select_backend
        from forensics.detector import Detector

        if threads > 0:
            torch.set_num_threads(threads)
        det = Detector.load(model, device=device)
        if threshold is not None:  # the driver's (a threshold profile's), so every actor gives the same verdicts
            det.threshold = threshold
        self.det = select_backend(det, backend)
        self.max_pixels = max_pixels
        self.provenance = provenance
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from forensics.audit.decode import decode_bytes_item, decode_file

        sink = _ListSink()
        writer = RecordWriter(self.det, sink, RunStats(), batch_size=self.batch_size, dedupe=False,
                              max_pixels=self.max_pixels, tick=lambda n: None)
        paths = [str(p) for p in batch["path"]]
        for i, path in enumerate(paths):
            if "bytes" in batch:
                d = decode_bytes_item(path, bytes(batch["bytes"][i]), self.max_pixels)
            else:
                size = int(batch["size"][i])
                mtime = float(batch["mtime"][i])
                d = decode_file(path, size, mtime, self.max_pixels, self.provenance)
            writer.add(d)
        writer.flush_all()
        return {"record": np.array([json.dumps(r, ensure_ascii=False, allow_nan=False) for r in sink.records],
                                   dtype=object)}


def _chunks(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for x in it:
        chunk.append(x)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def list_uri(uri: str, *, include: Sequence[str] = ()) -> Iterator[Candidate]:
    """Files under a pyarrow-readable URI (s3://, gs://, file://, ...), sorted, with size and mtime."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(uri)
    scheme = uri.split("://", 1)[0]
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.File:
        infos = [info]
    else:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    filt = FileFilter(include)
    for fi in sorted(infos, key=lambda f: f.path):
        if fi.type != pafs.FileType.File:
            continue
        rel = os.path.relpath(fi.path, root) if info.type != pafs.FileType.File else fi.base_name
        if info.type == pafs.FileType.File or filt(fi.base_name, rel):
            mtime = fi.mtime.timestamp() if fi.mtime is not None else None
            yield Candidate(f"{scheme}://{fi.path}" if scheme != "file" else f"file://{fi.path}", fi.size, mtime)


def run_ray(candidates: Iterable[Candidate], uris: Sequence[str], ledger: Any, *, model: Optional[str],
            device: str, batch_size: int, workers: Optional[int], max_pixels: int,
            provenance: Optional[bool], dedupe: bool, include: Sequence[str] = (),
            tick: Callable[[int], None] = lambda n: None, address: Optional[str] = None,
            detector: Any = None, chunk: int = CHUNK, backend: str = "auto",
            threshold: Optional[float] = None) -> RunStats:
    """Audit with Ray Data; the driver writes the records (same ledger as the local engine). `threshold`
    (default: the detector's, else the model config's) is the verdict threshold every actor uses."""
    if not ray_available():
        raise RuntimeError(RAY_MISSING)
    import ray

    import logging

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    import ray.data

    for name in ("ray", "ray.data"):  # after import: ray.data installs its own logging config
        logging.getLogger(name).setLevel(logging.ERROR)

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        ctx.enable_operator_progress_bars = False
    except Exception:
        pass
    resources = ray.cluster_resources()
    n_gpus = int(resources.get("GPU", 0)) if device in ("auto", "cuda") else 0
    n_cpus = max(1, int(resources.get("CPU", 1)))
    actors = workers if workers else (n_gpus or max(1, n_cpus // 2))
    actor_device = "cuda" if n_gpus else "cpu"
    threads = max(1, n_cpus // actors) if not n_gpus else 0
    stats = RunStats()
    model_id = ledger.model
    if threshold is not None:
        thr = float(threshold)
    elif detector is not None:
        thr = float(detector.threshold)
    else:
        from forensics.checkpoint import read_config
        from forensics.detector import config_threshold, resolve_model_dir

        thr = config_threshold(read_config(resolve_model_dir(model)))

    def sources() -> Iterator[Candidate]:
        yield from candidates
        for u in uris:
            yield from list_uri(u, include=include)

    def pending() -> Iterator[Candidate]:
        for c in sources():
            if ledger.is_done(c.path, c.size, c.mtime) and not ledger.by_hash:
                stats.skipped += 1
                tick(1)
                continue
            if c.error is not None:
                ledger.append(error_result(c.path, c.error, model=model_id, threshold=thr,
                                           file_size=c.size, mtime=c.mtime).to_dict())
                stats.scored += 1
                stats.errors += 1
                tick(1)
                continue
            yield c

    map_kwargs: dict[str, Any] = dict(
        fn_constructor_kwargs=dict(model=model, device=actor_device, max_pixels=max_pixels, provenance=provenance,
                                   batch_size=batch_size, threads=threads, backend=backend, threshold=thr),
        batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors))
    if n_gpus:
        map_kwargs["num_gpus"] = 1
    else:
        map_kwargs["num_cpus"] = threads
    try:
        for part in _chunks(pending(), chunk):
            local = [c for c in part if "://" not in c.path]
            remote = [c for c in part if "://" in c.path]
            datasets = []
            if local:
                datasets.append((ray.data.from_items([{"path": c.path, "size": c.size, "mtime": c.mtime}
                                                      for c in local]), {}))
            if remote:
                facts = {_fs_path(c.path): c for c in remote}
                ds = ray.data.read_binary_files([c.path for c in remote], include_paths=True)
                datasets.append((ds, facts))
            for ds, facts in datasets:
                ds = ds.map_batches(_Scorer, **map_kwargs)
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    for line in batch["record"]:
                        rec = json.loads(line)
                        if facts:
                            c = facts.get(_fs_path(str(rec["path"])))
                            if c is not None:
                                rec.update(path=c.path, file_size=c.size, mtime=c.mtime)
                        if ledger.by_hash and ledger.is_done(rec["path"], None, None, rec.get("sha256")):
                            stats.skipped += 1
                            tick(1)
                            continue
                        if dedupe and rec.get("label") != "error":
                            first = ledger.first_with_hash(rec.get("sha256"))
                            if first is not None and first.get("path") != rec["path"]:
                                rec = _as_copy(first, rec)
                                stats.duplicates += 1
                        ledger.append(rec)
                        stats.scored += 1
                        stats.errors += rec.get("label") == "error"
                        tick(1)
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        ledger.sync()
    return stats


def _fs_path(p: str) -> str:
    return p.split("://", 1)[1] if "://" in p else p


def _as_copy(first: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    out = dict(first)
    out.update(path=rec["path"], file_size=rec.get("file_size"), mtime=rec.get("mtime"), seconds=rec.get("seconds"))
    out["notes"] = [n for n in (first.get("notes") or []) if not str(n).startswith("duplicate of ")]
    out["notes"].append(f"duplicate of {first.get('path')} (same sha256): scored once")
    out["extra"] = {**(first.get("extra") or {}), "duplicate_of": first.get("path")}
    return out

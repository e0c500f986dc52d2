"""Write a fake dataset: PNGs plus manifest.jsonl, resumable without rewriting finished files."""
from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from ._common import derive_seed, progress_bar
from .base import Generator

MANIFEST = "manifest.jsonl"


def _read_manifest(path: Path) -> dict[int, dict]:
    """Records by index; a torn line left by an interrupted run is dropped and the file rewritten cleanly."""
    done: dict[int, dict] = {}
    if not path.is_file():
        return done
    text = path.read_text()
    torn = bool(text) and not text.endswith("\n")
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            done[int(rec["index"])] = rec
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            torn = True
    if torn:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(json.dumps(done[i]) + "\n" for i in sorted(done)))
        os.replace(tmp, path)
    return done


def write_fake_dataset(gen: Generator, n: int, out_dir: str | Path, *, seed: int = 0, progress: bool = True,
                       batch_size: int = 64, device: str = "auto") -> Path:
    """Sample `n` images into `out_dir` as `{name}_{index:06d}.png` and append `manifest.jsonl`.

    Image `i` is drawn from the seed derived from (seed, i), in batches aligned to `batch_size`, so
    rerunning into the same folder only fills in what is missing and gives the same images. PNGs are
    written to a temp file and renamed; a manifest line torn by a crash is dropped on the next run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    man_path = out / MANIFEST
    for stale in out.glob(".*.png.tmp"):  # half-written PNGs left by an interrupted run
        stale.unlink()
    previous = _read_manifest(man_path)
    chash, wid = gen.config_hash(), gen.weights_id()
    for rec in previous.values():
        if (rec.get("generator"), rec.get("config_hash"), rec.get("weights_id"), rec.get("seed")) != \
                (gen.name, chash, wid, seed):
            raise ValueError(f"{out} already holds images from another generator/weights/seed "
                             f"({rec.get('generator')}, {rec.get('weights_id')}, seed {rec.get('seed')}); "
                             "use a new folder")
    done = {i for i, r in previous.items() if (out / r["file"]).is_file()}
    todo = [i for i in range(n) if i not in done]

    def record(i: int, fname: str) -> dict:
        return {"file": fname, "generator": gen.name, "seed": seed, "index": i, "image_seed": derive_seed(seed, i),
                "config_hash": chash, "weights_id": wid, "resolution": gen.resolution}

    man = os.open(man_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with progress_bar(len(todo), f"{gen.name} -> {out.name}", progress) as advance:
            for start in range(0, n, batch_size):
                idx = list(range(start, min(start + batch_size, n)))
                missing = [i for i in idx if i not in done]
                if not missing:
                    continue
                fnames = {i: f"{gen.name}_{i:06d}.png" for i in missing}
                need = [i for i in missing if not (out / fnames[i]).is_file()]
                # draw the whole aligned batch, so the batch composition (and so the numbers) never changes
                imgs = gen.sample_seeds([derive_seed(seed, i) for i in idx], device=device,
                                        batch_size=batch_size) if need else None
                for i in need:  # each PNG appears whole or not at all (temp file + atomic rename)
                    tmp = out / f".{fnames[i]}.tmp"
                    Image.fromarray(imgs[i - start]).save(tmp, format="PNG")
                    os.replace(tmp, out / fnames[i])
                # then the batch's manifest lines in one write() call, so a killed run cannot tear a line
                # (a line is only written once its PNG is complete)
                _append(man, "".join(json.dumps(record(i, fnames[i])) + "\n" for i in missing))
                advance(len(missing))
    finally:
        os.close(man)
    return out


def _append(fd: int, text: str) -> None:
    data = text.encode("utf-8")
    while data:
        data = data[os.write(fd, data):]

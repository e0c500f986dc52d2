"""Pre-cut training crops: a folder of small lossless crops per source, so that a training run on large
images reads 128 px PNG files instead of decoding (and re-encoding) a 1024 px image for every 64 px crop.

Each image gives `native` crops at its own resolution and `reencoded` crops of the image re-saved whole
as a sharing site would (`web_reencode`: JPEG and downscale, in random order) before cropping; the crops
are plain image folders that `forensics train` reads like any other source. Re-running skips images
whose crops are all present, so an interrupted pass resumes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import cv2
import numpy as np

from forensics.decoding import decode_bytes, read_file_bytes
from forensics.training.data import random_crop, web_reencode


@dataclass(frozen=True)
class CropPlan:
    """How many crops of which size each image gives."""

    size: int = 128
    native: int = 4
    reencoded: int = 2

    def names(self, image: Path) -> list[str]:
        """The crop file names of one image file: unique per file content, the same under any path or machine."""
        return self.tagged_names(Path(image).stem, content_hash(image))

    def tagged_names(self, stem: str, tag: int) -> list[str]:
        """The crop file names of an image with this file stem and `content_hash`."""
        return ([f"{stem[:40]}_{tag:010x}_n{k}.png" for k in range(self.native)]
                + [f"{stem[:40]}_{tag:010x}_r{k}.png" for k in range(self.reencoded)])


def content_hash(image: Path) -> int:
    """40 bits of the SHA-1 of an image file's bytes: names its crops and seeds their draws, so a copy of the
    file elsewhere, or on another machine, gives the same crops."""
    return _bytes_hash(Path(image).read_bytes())


def _bytes_hash(data: bytes) -> int:
    return int(hashlib.sha1(data).hexdigest()[:10], 16)


def image_crops(rgb: np.ndarray, plan: CropPlan, rng: np.random.Generator) -> list[np.ndarray]:
    """The crops of one decoded image, in `plan.names` order (reflect-padded where the image is smaller)."""
    out = [random_crop(rgb, plan.size, rng) for _ in range(plan.native)]
    for _ in range(plan.reencoded):
        out.append(random_crop(web_reencode(rgb, rng, plan.size), plan.size, rng))
    return [np.ascontiguousarray(c) for c in out]


def write_crops(files: Iterable[Path], folder: Path, plan: CropPlan, *, seed: int = 0,
                log: Optional[Callable[[str], None]] = None) -> int:
    """Write the crops of every image in `files` into `folder`; returns how many images were cut now.
    An image that cannot be decoded is reported through `log` and skipped."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cut = 0
    for f in files:
        try:
            data, _stat = read_file_bytes(f)  # read once: hashed for the names and seed, decoded for the crops
        except Exception as e:  # noqa: BLE001 - one unreadable file must not stop the pass
            if log:
                log(f"skipped {f}: {type(e).__name__}: {e}")
            continue
        tag = _bytes_hash(data)
        names = plan.tagged_names(Path(f).stem, tag)
        if all((folder / n).exists() for n in names):
            continue
        rng = np.random.default_rng([seed, tag])
        try:
            rgb = decode_bytes(data)[0]
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the pass
            if log:
                log(f"skipped {f}: {type(e).__name__}: {e}")
            continue
        for name, crop in zip(names, image_crops(rgb, plan, rng)):
            ok, png = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            if not ok:
                raise OSError(f"{folder / name}: could not encode the crop")
            tmp = folder / f".{name}.part"  # not an image name: an interrupted write is never listed
            tmp.write_bytes(png.tobytes())
            tmp.replace(folder / name)
        cut += 1
    return cut

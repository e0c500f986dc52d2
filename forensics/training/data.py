"""Training data: labelled image sources, the deterministic split, one augmentation path for both classes.

Listing image files and the file-level validation split live in `forensics.data` (scanning and evaluation
use them too) and are re-exported here."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from forensics.data import FAKE, REAL, in_validation, list_images, warn_skipped  # noqa: F401
from forensics.decoding import ImageDecodeError, load_image

AUGMENTS = ("none", "flip", "mild", "medium", "robust")


@dataclass(frozen=True)
class Source:
    """A folder of images with one label; `name` identifies it in balanced sampling and reports."""

    name: str
    label: int
    files: tuple[Path, ...]


def make_sources(dirs: Sequence[Path], label: int, *, split: Optional[str], val_fraction: float) -> list[Source]:
    """One Source per folder; split = 'train' | 'val' | None (all files)."""
    out = []
    for d in dirs:
        files = list_images(Path(d))
        if split is not None:
            files = [f for f in files if in_validation(f, val_fraction) == (split == "val")]
        if files:
            tag = "real" if label == REAL else "fake"
            out.append(Source(name=f"{tag}:{Path(d).name}", label=label, files=tuple(files)))
    return out


def random_rescale(rgb: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    s = float(rng.uniform(lo, hi))
    if abs(s - 1.0) < 1e-3:
        return rgb
    h, w = rgb.shape[:2]
    nh, nw = max(8, int(round(h * s))), max(8, int(round(w * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, (nw, nh), interpolation=interp)


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Crop `size` x `size` at native resolution, reflect-padding images that are smaller."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = rgb.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return rgb[y:y + size, x:x + size]


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = rgb.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return rgb[y:y + size, x:x + size]


# pixel-level augmentation strengths: (p rescale, p blur, p down/up-scale, p JPEG, lowest JPEG quality)
AUGMENT_STRENGTH = {"robust": (0.6, 0.15, 0.15, 0.7, 30), "medium": (0.45, 0.1, 0.1, 0.5, 50),
                    "mild": (0.3, 0.05, 0.05, 0.3, 60)}


def describe_augment(kind: str) -> str:
    """One phrase for reports, derived from the same numbers the Augmenter uses."""
    if kind not in AUGMENT_STRENGTH:
        return {"flip": "horizontal flips only", "none": "no augmentation"}.get(kind, kind)
    p_rescale, p_blur, p_down, p_jpeg, q_low = AUGMENT_STRENGTH[kind]
    return (f"{kind} augmentation of both classes (random rescaling 0.5-1x with p {p_rescale}, JPEG "
            f"re-compression at quality {q_low}-100 with p {p_jpeg}, Gaussian blur with p {p_blur}, "
            f"down/up-scaling with p {p_down}, flips)")


class Augmenter:
    """The same augmentation for both classes: 'none', 'flip', 'robust' (random rescale 0.5-1x,
    native-resolution crop, JPEG 30-100, blur, down/up-scale, flip) or 'mild' (the same kinds, less
    often and JPEG 60-100 only: faint traces such as downscaled StyleGAN faces survive it) or 'medium'
    (in between: JPEG 50-100 half of the time). With `reencode` > 0, that share of images is first
    re-encoded whole as a sharing site would (`web_reencode`). With `saturation` > 0, that share of
    images first has its colour saturation scaled (`scale_saturation`), as a phone's vivid or muted
    filter does, so that such a filter is no evidence either way. With `grey` > 0, that share
    of images is first turned grey (three equal channels of its luma), so the model must also find
    the evidence without colour. With `jpeg` > 0, that share of images is first re-saved whole as
    JPEG (quality 70-100, `whole_jpeg`), so that a lossless file is no evidence either way. With
    `chroma_match` > 0, that share of images has its saturation scaled so that its mean chroma hits a
    level drawn from `CHROMA_TARGET` for both classes alike (`match_chroma`): scaling alone keeps a
    class's colourfulness ranking (the diffusion sets are more colourful than any real source), matching
    erases it, so how colourful an image is says nothing of its class."""

    def __init__(self, kind: str, size: int, *, reencode: float = 0.0, saturation: float = 0.0,
                 grey: float = 0.0, jpeg: float = 0.0, chroma_match: float = 0.0) -> None:
        if kind not in AUGMENTS:
            raise ValueError(f"unknown augmentation '{kind}'; choose one of {', '.join(AUGMENTS)}")
        for name, share in (("reencode_fraction", reencode), ("saturation_fraction", saturation),
                            ("grey_fraction", grey), ("jpeg_fraction", jpeg),
                            ("chroma_match_fraction", chroma_match)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within 0-1, got {share}")
        self.kind, self.size, self.reencode, self.saturation, self.grey = kind, size, reencode, saturation, grey
        self.jpeg, self.chroma_match = jpeg, chroma_match
        self._pixel = None
        self._p_rescale = 0.0
        if kind in AUGMENT_STRENGTH:
            import albumentations as A

            self._p_rescale, p_blur, p_down, p_jpeg, q_low = AUGMENT_STRENGTH[kind]
            self._pixel = A.Compose([
                A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.1, 1.2), p=p_blur),
                A.Downscale(scale_range=(0.5, 0.9), p=p_down,
                            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}),
                A.ImageCompression(quality_range=(q_low, 100), p=p_jpeg),
            ])

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator, size: Optional[int] = None) -> np.ndarray:
        """One augmented `size` x `size` crop (default: the augmenter's size). A size below the
        augmenter's is a small batch: half of its crops are whole-image thumbnails (the image shrunk
        so its short side is 1-1.25x the crop, as a scanned thumbnail is), half native-resolution crops."""
        return self.crop(rgb, rng, size)[0]

    def crop(self, rgb: np.ndarray, rng: np.random.Generator, size: Optional[int] = None) -> tuple[np.ndarray, bool]:
        """The augmented crop (as `__call__` makes it, from the same random draws) and whether its
        image was re-encoded whole first (`web_reencode`)."""
        size = self.size if size is None else size
        reencoded = False
        # drawn only when enabled, so runs without it keep their random streams
        colour: Optional[Callable[[np.ndarray], np.ndarray]] = None
        if self.saturation and rng.random() < self.saturation:
            colour = partial(scale_saturation, factor=rng.uniform(*SATURATION_RANGE))
        if self.chroma_match and rng.random() < self.chroma_match:
            colour = partial(match_chroma, target=rng.uniform(*CHROMA_TARGET))
        if self.grey and rng.random() < self.grey:
            colour = partial(scale_saturation, factor=0.0)  # every pixel at its own grey level
        if self.reencode and rng.random() < self.reencode:
            if colour is not None:  # the filter comes before the upload's re-encoding
                rgb, colour = colour(rgb), None
            rgb = web_reencode(rgb, rng, size)
            reencoded = True
        if self.jpeg and rng.random() < self.jpeg:
            if colour is not None:  # the filter comes before the file is saved
                rgb, colour = colour(rgb), None
            rgb = whole_jpeg(rgb, rng)
        if size < self.size and rng.random() < 0.5:
            short = min(rgb.shape[:2])
            target = rng.uniform(size, 1.25 * size)
            if short > target:
                rgb = random_rescale(rgb, rng, target / short, target / short)
        elif self._p_rescale and rng.random() < self._p_rescale:
            lo = max(0.5, size / max(1, min(rgb.shape[:2])))  # never shrink below the crop
            if lo < 1.0:
                rgb = random_rescale(rgb, rng, lo, 1.0)
        rgb = random_crop(rgb, size, rng)
        if self.kind != "none" and rng.random() < 0.5:
            rgb = rgb[:, ::-1]
        rgb = np.ascontiguousarray(rgb)
        if colour is not None:  # on the crop (cheaper) before blur and JPEG
            rgb = colour(rgb)
        if self._pixel is not None:
            # seeded from the stream's generator, so a resumed stream repeats the same pixels
            self._pixel.set_random_seed(int(rng.integers(2**31)))
            rgb = self._pixel(image=rgb)["image"]
        return rgb, reencoded


# colour-saturation factors of the saturation augmentation (1 = unchanged; 0 would be grey)
SATURATION_RANGE = (0.5, 1.6)


def _luma(x: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of float RGB pixels."""
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def scale_saturation(rgb: np.ndarray, factor: float) -> np.ndarray:
    """uint8 RGB with its saturation scaled by `factor`: each pixel moved away from (factor > 1) or
    towards (< 1) its own grey level (ITU-R 601 luma), as PIL's ImageEnhance.Color does."""
    x = rgb.astype(np.float32)
    grey = _luma(x)
    out = grey[..., None] + factor * (x - grey[..., None])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# mean chroma levels (`chroma`) the chroma matching draws its targets from, the same for both classes:
# real sources' images lie at 5-25, the diffusion sets' reach 45
CHROMA_TARGET = (4.0, 40.0)
# how far matching may scale saturation: a nearly grey image is not blown up into colour noise
CHROMA_FACTOR_RANGE = (0.2, 4.0)


def chroma(rgb: np.ndarray) -> float:
    """Mean chroma of uint8 RGB: the mean absolute distance of each channel from its pixel's grey
    level (ITU-R 601 luma), 0 for a grey image."""
    x = rgb.astype(np.float32)
    return float(np.abs(x - _luma(x)[..., None]).mean())


def match_chroma(rgb: np.ndarray, target: float) -> np.ndarray:
    """uint8 RGB with its saturation scaled (`scale_saturation`) so its mean chroma is near `target`,
    by a factor kept within `CHROMA_FACTOR_RANGE`; a grey image stays grey."""
    level = chroma(rgb)
    if level < 1e-3:
        return rgb
    factor = float(np.clip(target / level, *CHROMA_FACTOR_RANGE))
    return scale_saturation(rgb, factor)


# whole-image re-encoding as sharing sites do it: JPEG at these qualities and a downscale by these
# factors, in either order, before the crop (so JPEG blocks sit on the image grid, as when scanned)
REENCODE_QUALITY = (60, 95)
REENCODE_SCALE = (0.4, 0.8)


def web_reencode(rgb: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """The whole image re-saved as JPEG (quality 60-95) and downscaled 0.4-0.8x (area filter) in
    random order; never shrunk below `size` on its short side."""
    from forensics.stability import jpeg

    quality = int(rng.integers(REENCODE_QUALITY[0], REENCODE_QUALITY[1] + 1))
    lo = min(1.0, max(REENCODE_SCALE[0], size / max(1, min(rgb.shape[:2]))))
    hi = max(lo, REENCODE_SCALE[1])
    jpeg_first = rng.random() < 0.5
    if jpeg_first:
        rgb = jpeg(rgb, quality)
    rgb = random_rescale(rgb, rng, lo, hi)
    return rgb if jpeg_first else jpeg(rgb, quality)


# whole-image JPEG without resizing (`Augmenter(jpeg=...)`): the qualities cameras, editors and sites save at
WHOLE_JPEG_QUALITY = (70, 100)


def whole_jpeg(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The whole image re-saved as JPEG at a random quality in `WHOLE_JPEG_QUALITY` (blocks on the image grid)."""
    from forensics.stability import jpeg

    return jpeg(rgb, int(rng.integers(WHOLE_JPEG_QUALITY[0], WHOLE_JPEG_QUALITY[1] + 1)))


def source_probabilities(by_label: Mapping[int, Sequence[Source]],
                         weights: Optional[Mapping[str, float]]) -> dict[int, Optional[np.ndarray]]:
    """Per class, the probability of drawing each source: uniform (None) unless `weights` names
    sources by their run name (e.g. {"fake:web-stylegan-faces": 3}: three times as often as an unnamed
    source of the same class, weight 1)."""
    weights = dict(weights or {})
    known = {s.name for srcs in by_label.values() for s in srcs}
    unknown = sorted(set(weights) - known)
    if unknown:
        raise ValueError(f"source weights name unknown sources {unknown}; training sources are {sorted(known)}")
    if any(not (w >= 0) for w in weights.values()):
        raise ValueError(f"source weights must be >= 0, got {weights}")
    out: dict[int, Optional[np.ndarray]] = {}
    for lab, srcs in by_label.items():
        w = np.array([float(weights.get(s.name, 1.0)) for s in srcs])
        if w.sum() <= 0:
            raise ValueError(f"source weights leave no {'real' if lab == REAL else 'fake'} source to draw from")
        out[lab] = None if np.all(w == w[0]) else w / w.sum()  # None: the uniform draw, same streams as before
    return out


# crop sides of small batches: thumbnails are scanned at these sizes without padding to the
# training crop, so the model must see them as they are (borders and all)
SMALL_SIZES = (32, 40, 48, 56)


class BalancedStream(IterableDataset):
    """Endless stream of (crop, label): alternate real/fake, sources within a class in balance.
    With `small_fraction` > 0, that fraction of batches (runs of `batch_size` items, as the
    DataLoader groups them per worker) is cropped at one side from SMALL_SIZES instead. With
    `hard_share` > 0, that share of real draws comes from `hard_reals`, and with `hard_fake_share` > 0
    that share of fake draws from `hard_fakes` (see `forensics.training.mining`). With `flag_reencoded`, each
    item is (crop, label, whether the augmenter re-encoded its image), from the same random draws."""

    def __init__(self, sources: Sequence[Source], augmenter: Augmenter, seed: int, *, rank: int = 0,
                 source_weights: Optional[Mapping[str, float]] = None, batch_size: int = 1,
                 small_fraction: float = 0.0, hard_reals: Sequence[Path] = (), hard_share: float = 0.0,
                 hard_fakes: Sequence[Path] = (), hard_fake_share: float = 0.0,
                 flag_reencoded: bool = False) -> None:
        if not 0.0 <= small_fraction <= 1.0:
            raise ValueError(f"small_fraction must be within 0-1, got {small_fraction}")
        for name, share, files in (("hard_share", hard_share, hard_reals), ("hard_fake_share", hard_fake_share, hard_fakes)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within 0-1, got {share}")
            if share and not files:
                raise ValueError(f"{name} > 0 needs {'hard_reals' if name == 'hard_share' else 'hard_fakes'} to draw from")
        self.hard = {REAL: (tuple(hard_reals), hard_share), FAKE: (tuple(hard_fakes), hard_fake_share)}
        if small_fraction and min(SMALL_SIZES) >= augmenter.size:
            raise ValueError(f"small batches need a training crop above {min(SMALL_SIZES)} px, got {augmenter.size}")
        self.batch_size, self.small_fraction = batch_size, small_fraction
        self.by_label = {lab: [s for s in sources if s.label == lab] for lab in (REAL, FAKE)}
        for lab, srcs in self.by_label.items():
            if not srcs:
                raise ValueError(f"no {'real' if lab == REAL else 'fake'} training images found")
        self.source_p = source_probabilities(self.by_label, source_weights)
        self.augmenter = augmenter
        self.seed = seed
        self.rank = rank
        self.start_step = 0
        self.flag_reencoded = flag_reencoded

    def __iter__(self) -> Iterator[tuple]:
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, self.rank, wid, self.start_step])
        k = 0
        totals = {lab: sum(len(s.files) for s in srcs) for lab, srcs in self.by_label.items()}
        bad: dict[int, dict[Path, str]] = {REAL: {}, FAKE: {}}
        batch_no, size = -1, self.augmenter.size
        while True:
            if self.small_fraction and k // self.batch_size != batch_no:
                batch_no = k // self.batch_size
                small = rng.random() < self.small_fraction
                size = int(rng.choice([s for s in SMALL_SIZES if s < self.augmenter.size])) if small \
                    else self.augmenter.size
            label = (k + wid) % 2
            k += 1
            srcs, p = self.by_label[label], self.source_p[label]
            hard_files, hard_share = self.hard[label]
            if hard_share and rng.random() < hard_share:
                path = hard_files[int(rng.integers(len(hard_files)))]
            else:
                src = srcs[int(rng.integers(len(srcs)) if p is None else rng.choice(len(srcs), p=p))]
                path = src.files[int(rng.integers(len(src.files)))]
            if path in bad[label]:
                k -= 1  # draw again for the same class: unreadable files must not unbalance batches
                continue
            try:
                rgb = load_image(path).rgb
            except ImageDecodeError as e:
                # unreadable training files are skipped (and listed by `forensics eval`); when every
                # file of a class is unreadable, stop with a reason instead of looping forever
                bad[label][path] = str(e)
                warn_skipped(path, str(e))
                if len(bad[label]) >= totals[label]:
                    first, why = next(iter(bad[label].items()))
                    raise ValueError(f"no readable {'real' if label == REAL else 'fake'} training images: "
                                     f"all {totals[label]} files failed to decode (e.g. {first}: {why})")
                k -= 1
                continue
            crop, reencoded = self.augmenter.crop(rgb, rng, size)
            pixels = torch.from_numpy(np.array(crop, copy=True)).permute(2, 0, 1).contiguous()
            yield (pixels, label, reencoded) if self.flag_reencoded else (pixels, label)


class ValidationSet(Dataset):
    """Deterministic centre crops of held-out files (uint8 CHW), with label and source name."""

    def __init__(self, sources: Sequence[Source], size: int, *, per_source: int = 200) -> None:
        self.items: list[tuple[Path, int, str]] = []
        for s in sources:
            files = list(s.files)
            step = max(1, len(files) // per_source)
            self.items += [(f, s.label, s.name) for f in files[::step][:per_source]]
        self.size = size
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        path, label, _ = self.items[i]
        try:
            rgb = center_crop(load_image(path).rgb, self.size)
            ok = 1
        except ImageDecodeError as e:
            if path not in self._warned:
                self._warned.add(path)
                warn_skipped(path, str(e), "validation")
            rgb, ok = np.zeros((self.size, self.size, 3), np.uint8), 0
        return torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1).contiguous(), label, ok


def default_workers() -> int:
    return max(0, min(4, (os.cpu_count() or 1) - 1))

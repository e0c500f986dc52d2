"""`Detector`: load a patch classifier and score images, one or many, with heatmaps."""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Optional, Union

import numpy as np
import torch

from forensics.aggregate import SCORE_DECIMALS, ScoreRule
from forensics.checkpoint import (FUSED_FORMAT, CheckpointError, check_number, profile_threshold, read_config,
                                  read_state, require_trained, runner_up_threshold, threshold_profiles,
                                  validate_config)
from forensics.decoding import (DEFAULT_MAX_PIXELS, DecodedImage, ImageDecodeError, as_rgb_array,
                                load_image, sha256_bytes)
from forensics.device import full_precision, resolve_device
from forensics.fusion import fold_batchnorm
from forensics.graphic_cue import shipped_cue
from forensics.models import PatchClassifier, build_from_config, parse_arch
from forensics.preprocess import Preprocessing, iter_tiles, pad_to_min, to_tensor
from forensics.results import (GRAPHIC_PREFIX, LABEL_FAKE, LABEL_REAL, LABEL_UNCERTAIN, NEAR_MISS_PREFIX,
                               PROVENANCE_PREFIX, ScanResult, error_result)

WEIGHTS_ROOT = Path(__file__).parent / "weights"
PATCH_MODEL = "patch"  # the shipped patch model alone: no download, the heatmap's source
FUSED_MODEL = "fused"  # the shipped default: the patch model fused with the pretrained CLIP branch


def default_model_name() -> str:
    """The shipped model `--model default` (and no --model) means: the fused one when it is shipped."""
    return FUSED_MODEL if (WEIGHTS_ROOT / FUSED_MODEL / "config.json").is_file() else PATCH_MODEL


DEFAULT_MODEL = default_model_name()

# a path, pixels, a DecodedImage, or encoded image bytes / a binary file object (decoded like a file)
ImageInput = Union[str, Path, np.ndarray, DecodedImage, bytes, bytearray, memoryview, BinaryIO]


def shipped_models() -> dict[str, Path]:
    """Named model directories shipped inside the package."""
    if not WEIGHTS_ROOT.is_dir():
        return {}
    return {p.name: p for p in sorted(WEIGHTS_ROOT.iterdir()) if (p / "config.json").is_file()}


def resolve_model_dir(model: Union[str, Path, None]) -> Path:
    """A model name shipped with the package, or a path to a model/run directory."""
    if model is None or model == "default":
        model = default_model_name()
    shipped = shipped_models()
    if isinstance(model, str) and model in shipped:
        return shipped[model]
    path = Path(model)
    if path.exists():
        return path
    names = ", ".join(shipped) or "none"
    raise CheckpointError(f"model '{model}' is neither a directory nor a shipped model name (shipped: {names})")


def _one_line(msg: str, limit: int = 300) -> str:
    return " ".join(msg.split())[:limit]


# Below this many pixels on the short side an image has few patches and the shipped models separate
# thumbnails poorly even after training on 32-56 px inputs (model cards, "Small images"): verdicts
# carry a weak-evidence note.
WEAK_EVIDENCE_SIDE = 64


@dataclass(frozen=True)
class CellMap:
    """Per-cell fake logits of one image plus the geometry that maps cells to pixels."""

    fake_logit: np.ndarray  # (h, w) float32, already divided by the temperature
    stride: int
    receptive_field: int
    offset: int

    @property
    def probabilities(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.fake_logit, -60, 60)))

    def cell_box(self, i: int, j: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Pixel window (x0, y0, x1, y1) of cell (i, j), clipped to the image."""
        rf = self.receptive_field or max(height, width)
        y0, x0 = i * self.stride + self.offset, j * self.stride + self.offset
        return (max(0, x0), max(0, y0), min(width, x0 + rf), min(height, y0 + rf))


def config_threshold(config: dict[str, Any]) -> float:
    """The verdict threshold a detector config sets (0.5 when it sets none)."""
    return check_number(config, "threshold", 0.0, 1.0) if "threshold" in config else 0.5


def declared_generated(provenance: Optional[dict[str, Any]]) -> Optional[str]:
    """A short description of the strong provenance signals (the file states a generative model made it),
    or None when there are none."""
    signals = [s for s in (provenance or {}).get("signals") or [] if isinstance(s, dict) and s.get("strength") == "strong"]
    if not signals:
        return None
    return "; ".join(f"{s.get('kind')}: {str(s.get('value'))[:80]}" for s in signals[:3])


def rendered_graphic_note(rgb: np.ndarray) -> Optional[str]:
    """A note when an image looks rendered (a logo, chart, test pattern) rather than photographed
    (`forensics.graphic_cue`), None otherwise. Scans ask only for fake and near-threshold verdicts,
    which it qualifies: the detectors were trained on photographs and generated photo-like images."""
    cue = shipped_cue()
    p = cue.probability(rgb)
    if p is None or p < cue.threshold:
        return None
    return (f"{GRAPHIC_PREFIX} a logo, chart, test pattern or other rendered graphic, not a photograph (P(rendered) "
            f"{p:.2f}); the detector was trained on photographs and generated photo-like images, so its score is "
            "weak evidence here")


def verdict_label(score: float, threshold: float, real_below: Optional[float]) -> str:
    """fake at or above `threshold`; real under `real_below` (or under the threshold when there is no such
    band); uncertain in between. `score` is P(fake) as `scan` reports it (SCORE_DECIMALS decimals)."""
    if score >= threshold:
        return LABEL_FAKE
    if real_below is not None and score >= min(real_below, threshold):
        return LABEL_UNCERTAIN
    return LABEL_REAL


class Detector:
    """A loaded real/fake patch classifier. Use `Detector.load()` for the shipped default."""

    def __init__(self, model: PatchClassifier, config: dict[str, Any], *, device: torch.device,
                 source: Optional[Path] = None) -> None:
        self.model = fold_batchnorm(model.to(device).eval())
        if device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.config = config
        self.device = device
        self.source = source
        self.preprocessing = Preprocessing.from_dict(config.get("preprocessing"))
        self.threshold = config_threshold(config)
        self.temperature = check_number(config, "temperature", 1e-3, 1e3) if "temperature" in config else 1.0
        self.score_rule = ScoreRule.from_config(config)
        self.model_id = str(config.get("model_id") or (source.name if source else config.get("arch")))
        rf, stride, offset = model.geometry()
        self._geometry = (rf, stride, offset)
        # a fused detector (forensics.pretrained) adds a pretrained branch whose logit the combiner fuses
        # with the patch score; these stay None for a patch model used alone
        self.branch: Optional[Any] = None
        self.combiner: Optional[Any] = None
        self.fused_config: Optional[dict[str, Any]] = None
        self.branch_note: Optional[str] = None
        self.patch_model_id = self.model_id
        self.patch_threshold = self.threshold
        # scores under `real_below` are called real; between it and the threshold, uncertain (None: two labels)
        self.real_below: Optional[float] = (check_number(config, "real_below", 0.0, 1.0)
                                            if config.get("real_below") is not None else None)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model: Union[str, Path, None] = None, *, device: str = "auto",
             clip: Union[str, Path, None] = None) -> "Detector":
        """Load a shipped model by name (default: the embedded default) or a model/run directory. A fused
        model also loads its pretrained branch (`clip`: path of the CLIP encoder file, else
        $FORENSICS_CLIP_ONNX or the user cache); without that file it scores with its patch model alone
        and says so in `branch_note` and in every record."""
        model_dir = resolve_model_dir(model)
        cfg = read_config(model_dir)
        if cfg.get("format") == FUSED_FORMAT:
            return cls._load_fused(model_dir, cfg, device=device, clip=clip)
        try:
            validate_config(cfg)
        except CheckpointError as e:
            raise CheckpointError(f"{model_dir / 'config.json'}: {e}") from None
        require_trained(model_dir, cfg)
        try:
            parse_arch(str(cfg.get("arch")))
            net = build_from_config(cfg)
        except ValueError as e:
            raise CheckpointError(f"{model_dir}: {e}") from None
        state = read_state(model_dir, cfg)
        expected = net.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise CheckpointError(f"{model_dir}: weights do not match architecture {cfg['arch']} "
                                  f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        for k, v in state.items():
            if tuple(v.shape) != tuple(expected[k].shape):
                raise CheckpointError(f"{model_dir}: tensor {k!r} has shape {tuple(v.shape)}, "
                                      f"expected {tuple(expected[k].shape)} for {cfg['arch']}")
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return cls(net, cfg, device=resolve_device(device), source=model_dir)

    @classmethod
    def _load_fused(cls, model_dir: Path, cfg: dict[str, Any], *, device: str,
                    clip: Union[str, Path, None]) -> "Detector":
        from forensics.pretrained.fused import attach_branch

        ref = cfg.get("patch_model")
        if not isinstance(ref, str) or not ref:
            raise CheckpointError(f"{model_dir / 'config.json'}: a fused model needs 'patch_model' (a name or folder)")
        local = model_dir / ref  # a folder beside the fused model, else a shipped name or a path
        det = cls.load(local if (local / "config.json").is_file() else ref, device=device)
        attach_branch(det, model_dir, cfg, clip=clip)
        return det

    def adopt_fusion(self, other: "Detector") -> None:
        """Take `other`'s pretrained branch, combiner and fused verdict threshold (a backend wrapper
        built from `other` scores exactly as it does)."""
        for name in ("branch", "combiner", "fused_config", "branch_note", "patch_model_id", "patch_threshold",
                     "model_id", "threshold", "real_below"):
            setattr(self, name, getattr(other, name))

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """(N,H,W,3) uint8 -> (N,h,w) fake logits / T."""
        x = to_tensor(batch, self.preprocessing).to(self.device)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        with full_precision(self.device):
            logits = self.model(x).float()
        return ((logits[:, 1] - logits[:, 0]) / self.temperature).cpu().numpy()

    def _cell_maps(self, images: list[np.ndarray]) -> list[CellMap]:
        """Cell maps for RGB uint8 images; equal-size images share one forward pass."""
        rf, stride, offset = self._geometry
        pre = self.preprocessing
        padded = [pad_to_min(im, pre.min_side)[0] for im in images]
        out: list[Optional[np.ndarray]] = [None] * len(images)
        small = [i for i, im in enumerate(padded) if max(im.shape[:2]) <= pre.tile]
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i in small:
            by_shape.setdefault(padded[i].shape[:2], []).append(i)
        for idx in by_shape.values():
            maps = self._forward(np.stack([padded[i] for i in idx]))
            for i, m in zip(idx, maps):
                out[i] = m
        for i, im in enumerate(padded):
            if out[i] is None:
                out[i] = self._tiled(im)
        return [CellMap(m.astype(np.float32), stride, rf, offset) for m in out]  # type: ignore[union-attr]

    def _tiled(self, rgb: np.ndarray) -> np.ndarray:
        """Score a large image in overlapping tiles and stitch the cell map (mean over overlaps)."""
        _, stride, _ = self._geometry
        if not self.model.is_patch:  # full-image model: average tile logits
            vals = [self._forward(rgb[None, y:y + self.preprocessing.tile, x:x + self.preprocessing.tile])[0]
                    for y, x in iter_tiles(*rgb.shape[:2], self.preprocessing.tile, self.preprocessing.tile_overlap, 1)]
            return np.array([[float(np.mean(vals))]], dtype=np.float32)
        h, w = rgb.shape[:2]
        tile, ov = self.preprocessing.tile, self.preprocessing.tile_overlap
        gh, gw = -(-h // stride), -(-w // stride)
        acc = np.zeros((gh, gw), np.float64)
        cnt = np.zeros((gh, gw), np.float64)
        for y, x in iter_tiles(h, w, tile, ov, stride):
            m = self._forward(rgb[None, y:y + tile, x:x + tile])[0]
            cy, cx = y // stride, x // stride
            mh, mw = min(m.shape[0], gh - cy), min(m.shape[1], gw - cx)
            acc[cy:cy + mh, cx:cx + mw] += m[:mh, :mw]
            cnt[cy:cy + mh, cx:cx + mw] += 1
        valid = cnt > 0
        acc[valid] /= cnt[valid]
        rows, cols = valid.any(axis=1), valid.any(axis=0)
        return acc[rows][:, cols].astype(np.float32)

    def cell_map(self, image: ImageInput) -> CellMap:
        """Per-cell fake logits for one image (path, array or DecodedImage)."""
        return self._cell_maps([self._pixels(image)])[0]

    def heatmap(self, image: ImageInput) -> np.ndarray:
        """Per-cell P(fake) map (h, w) of one image; cell (i, j) covers `cell_box(i, j)` pixels."""
        return self.cell_map(image).probabilities

    def score(self, image: ImageInput) -> float:
        """Image-level P(fake), as `scan` reports it (SCORE_DECIMALS decimals): fake when >= `threshold`."""
        return round(self.score_rule(self.cell_map(image).fake_logit), SCORE_DECIMALS)

    @staticmethod
    def _pixels(image: ImageInput) -> np.ndarray:
        if isinstance(image, DecodedImage):
            return image.rgb
        if isinstance(image, (str, Path)):
            return load_image(image).rgb
        from forensics.decoding import is_encoded, load_encoded

        if is_encoded(image):  # bytes, BytesIO, open(..., "rb"): decoded like a file
            return load_encoded(image).rgb
        return as_rgb_array(image)

    # ------------------------------------------------------------------ scanning
    def _error(self, path: Optional[str], reason: str, **kw: Any) -> ScanResult:
        return error_result(path, reason, model=self.model_id, threshold=self.threshold, **kw)

    def _branch_outputs(self, decoded: list[DecodedImage]) -> list[Any]:
        """The pretrained branch's output per image (None without a branch; a one-line error string for an
        image it could not score, so that one bad image costs one record)."""
        if self.branch is None:
            return [None] * len(decoded)
        try:
            return list(self.branch.score([d.rgb for d in decoded]))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            if len(decoded) == 1:
                return [_one_line("pretrained branch failed")]
        out: list[Any] = []
        for d in decoded:
            try:
                out.append(self.branch.score([d.rgb])[0])
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:
                out.append(_one_line(f"pretrained branch failed: {type(e).__name__}: {e}"))
        return out

    def _result(self, path: Optional[str], decoded: DecodedImage, cmap: CellMap, seconds: float,
                provenance: Optional[dict[str, Any]], branch_out: Any = None) -> ScanResult:
        # the verdict is taken on the score as reported (6 decimals), so that a record's score and label agree
        # and a threshold calibrated on reported scores flags exactly what it flagged in calibration
        patch_score = round(self.score_rule(cmap.fake_logit), SCORE_DECIMALS)
        score, branches = patch_score, None
        if self.branch is not None or self.branch_note is not None:
            from forensics.pretrained.fused import fuse

            score, branches = fuse(self, patch_score, branch_out, decoded.width, decoded.height)
        probs = cmap.probabilities
        i, j = np.unravel_index(int(np.argmax(probs)), probs.shape)
        summary = {
            "grid": [int(probs.shape[0]), int(probs.shape[1])],
            "stride": cmap.stride, "receptive_field": cmap.receptive_field,
            "max": round(float(probs.max()), 6), "mean": round(float(probs.mean()), 6),
            "fraction_fake_cells": round(float((probs > 0.5).mean()), 6),
            "max_cell_box": list(cmap.cell_box(int(i), int(j), decoded.height, decoded.width)),
        }
        notes = list(decoded.notes)
        if self.branch_note:
            notes.append(self.branch_note)
        side = min(decoded.height, decoded.width)
        if side < self.preprocessing.min_side:
            notes.append(f"image smaller than {self.preprocessing.min_side} px: padded, score is weak evidence")
        elif side < WEAK_EVIDENCE_SIDE:
            notes.append(f"image smaller than {WEAK_EVIDENCE_SIDE} px: few patches, score is weak evidence")
        near_miss = self.near_miss_note(score)
        if near_miss:
            notes.append(near_miss)
        if score >= self.threshold or near_miss:
            rendered = rendered_graphic_note(decoded.rgb)
            if rendered:
                notes.append(rendered)
        label = self.verdict(score)
        declared = declared_generated(provenance)
        if declared:
            notes.append(f"{PROVENANCE_PREFIX} the file declares it was generated ({declared}); flagged fake whatever "
                         f"the pixel score")
            label = LABEL_FAKE
        return ScanResult(
            path=path, score=score, label=label,
            threshold=self.threshold, model=self.model_id, width=decoded.width, height=decoded.height,
            sha256=decoded.sha256, heatmap=summary, provenance=provenance, notes=tuple(notes),
            file_size=decoded.file_size, mtime=decoded.mtime, seconds=round(seconds, 4), branches=branches)

    def verdict(self, score: float) -> str:
        """This detector's label for a reported score (`verdict_label` at its threshold and real band)."""
        return verdict_label(score, self.threshold, self.real_below)

    @property
    def kinds(self) -> list[Any]:
        """Kinds of picture judged against their own real photos (forensics.pretrained.kinds.KindRule): the pretrained
        branch's, none without it."""
        return list(self.branch.kinds) if self.branch is not None else []

    def verdict_calibration(self) -> Optional[dict[str, Any]]:
        """The calibration record of the score the verdict is on: the fused model's when its pretrained
        branch is attached, else the patch model's (a patch threshold means nothing on a fused score)."""
        if self.branch is not None and self.fused_config is not None:
            return self.fused_config.get("calibration")
        return self.config.get("calibration")

    def threshold_profiles(self) -> dict[str, float]:
        """Thresholds this model was calibrated for on one kind of real photo, e.g. {"portraits": 0.69}:
        each set on the real sources of that kind alone (`verdict_calibration`)."""
        return threshold_profiles(self.verdict_calibration())

    def use_profile(self, name: str) -> None:
        """Take the verdict threshold of one of `threshold_profiles()` (scores do not change); a name the
        model has no profile for is a ValueError that lists the ones it has."""
        self.threshold = profile_threshold(self.verdict_calibration(), name, self.model_id)

    def near_miss_note(self, score: float) -> Optional[str]:
        """A note for a score under the verdict threshold but at or over the threshold that every real
        calibration source except the strictest would set on its own; None otherwise."""
        calibration = self.verdict_calibration()  # a fused record has no per-source thresholds: no note
        runner_up = runner_up_threshold(calibration, self.threshold)
        if runner_up is None or not runner_up[0] <= score < self.threshold:
            return None
        floor, strictest = runner_up
        target = float(calibration.get("target_fpr", 0.01))  # runner_up found one: calibration is there
        return (f"{NEAR_MISS_PREFIX} P(fake) >= {floor:.6f} would be flagged at a {target:.0%} false-positive rate on every "
                f"real calibration source except {strictest}, which sets the threshold ({self.threshold:.6f})")

    def _decode(self, item: ImageInput, max_pixels: int) -> tuple[Optional[str], DecodedImage]:
        if isinstance(item, DecodedImage):
            return None, item
        if isinstance(item, (str, Path)):
            return str(item), load_image(item, max_pixels=max_pixels)
        from forensics.decoding import is_encoded, load_encoded

        if is_encoded(item):  # bytes, BytesIO, open(..., "rb"): decoded like a file; sha256 of the bytes
            return None, load_encoded(item, max_pixels=max_pixels)
        rgb = as_rgb_array(item)
        return None, DecodedImage(rgb=rgb, format="array", sha256=sha256_bytes(rgb.tobytes()),
                                  file_size=None, mtime=None)

    def scan(self, image: ImageInput, *, provenance: Optional[bool] = None,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> ScanResult:
        """Score one image (path, array or DecodedImage). Never raises on bad input: returns an error record."""
        return next(self.scan_many([image], batch_size=1, provenance=provenance, max_pixels=max_pixels))

    def scan_many(self, images: Iterable[ImageInput], *, batch_size: int = 16,
                  provenance: Optional[bool] = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                  paths: Optional[Iterable[Optional[str]]] = None) -> Iterator[ScanResult]:
        """Score many images lazily with batched inference; yields one ScanResult per input, in order."""
        from forensics.provenance_hook import provenance_for

        path_iter = iter(paths) if paths is not None else None
        pending: list[tuple[Optional[str], Optional[DecodedImage], Optional[str], float]] = []

        def maps_for(decoded: list[DecodedImage]) -> list[Union[CellMap, str]]:
            """Cell maps for a batch; if the batch fails (e.g. out of memory), each image alone,
            so one bad image costs one error record, never the run."""
            try:
                return list(self._cell_maps([d.rgb for d in decoded]))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception:
                if len(decoded) == 1:
                    raise
            out: list[Union[CellMap, str]] = []
            for d in decoded:
                try:
                    out.append(self._cell_maps([d.rgb])[0])
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:
                    out.append(_one_line(f"scoring failed: {type(e).__name__}: {e}"))
            return out

        def flush() -> Iterator[ScanResult]:
            ok = [d for _, d, _, _ in pending if d is not None]
            try:
                maps = maps_for(ok) if ok else []
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:
                maps = [_one_line(f"scoring failed: {type(e).__name__}: {e}")] * len(ok)
            branch_outs = self._branch_outputs(ok)
            it, bit = iter(maps), iter(branch_outs)
            for p, d, err, t0 in pending:
                if d is None:
                    yield self._error(p, err or "unknown error")
                    continue
                cmap, bout = next(it), next(bit)
                if isinstance(cmap, str):
                    yield self._error(p, cmap)
                    continue
                if isinstance(bout, str):
                    yield self._error(p, bout)
                    continue
                prov = provenance_for(p, provenance)
                yield self._result(p, d, cmap, time.perf_counter() - t0, prov, bout)
            pending.clear()

        for item in images:
            label_path = next(path_iter) if path_iter is not None else None
            t0 = time.perf_counter()
            try:
                p, decoded = self._decode(item, max_pixels)
                pending.append((label_path or p, decoded, None, t0))
            except ImageDecodeError as e:
                p = str(item) if isinstance(item, (str, Path)) else label_path
                pending.append((p, None, str(e), t0))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # a bug on hostile input must cost one record, not the run
                p = str(item) if isinstance(item, (str, Path)) else label_path
                pending.append((p, None, _one_line(f"unexpected decoding failure: {type(e).__name__}: {e}"), t0))
            if len(pending) >= batch_size:
                yield from flush()
        yield from flush()

    def describe(self) -> dict[str, Any]:
        rf, stride, _ = self._geometry
        fused = None
        if self.fused_config is not None:
            fused = {"patch_model": self.patch_model_id, "patch_threshold": self.patch_threshold,
                     "pretrained_branch": "clip-vit-b16 " + self.fused_config["clip"]["features"].get("view", "")
                     if self.branch is not None else None,
                     "branch_note": self.branch_note,
                     "branch_device": self.branch.encoder.device if self.branch is not None else None,
                     "combiner": self.combiner.to_dict() if self.combiner is not None else None,
                     "kinds": [{"name": k.name, "offset": k.offset,
                                **({"expert_weight": k.expert_weight} if k.expert is not None else {})}
                               for k in self.kinds]}
        return {"model": self.model_id, "fused": fused, "arch": self.config.get("arch"), "receptive_field": rf,
                "stride": stride, "threshold": self.threshold, "threshold_profiles": self.threshold_profiles(),
                "temperature": self.temperature,
                "aggregation": self.score_rule.name, "score_scaling": self.score_rule.to_config()["score_scaling"],
                "device": str(self.device),
                "source": str(self.source) if self.source else None}


@functools.lru_cache(maxsize=4)
def _cached_detector(model: Union[str, Path, None], device: str) -> Detector:
    return Detector.load(model, device=device)


def scan(image: ImageInput, *, model: Union[str, Path, None] = None, device: str = "auto",
         provenance: Optional[bool] = None) -> ScanResult:
    """One-call scan for pipelines: `forensics.scan("photo.jpg")` (the detector is loaded once and cached)."""
    return _cached_detector(model, device).scan(image, provenance=provenance)

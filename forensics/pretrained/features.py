"""Image features from CLIP token states: which blocks, which tokens, and a resumable on-disk store.

A `FeatureSpec` names the blocks whose patch-token mean and whose CLS token make an image's feature
vector (concatenated in that order). The mean of patch tokens is what makes the coarse heatmap exact:
a linear probe on the mean of tokens is the mean of the probe applied to each token
(`forensics.pretrained.probe`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from forensics.fileio import replaced_atomically
from forensics.pretrained.clip_encoder import WIDTH, ClipEncoder, make_view


@dataclass(frozen=True)
class FeatureSpec:
    """Blocks whose mean patch token (`mean_blocks`) and CLS token (`cls_blocks`) form the features."""

    mean_blocks: tuple[int, ...]
    cls_blocks: tuple[int, ...] = ()
    view: str = "resize224"

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.mean_blocks) | set(self.cls_blocks)))

    @property
    def dim(self) -> int:
        return WIDTH * (len(self.mean_blocks) + len(self.cls_blocks))

    def name(self) -> str:
        parts = []
        if self.mean_blocks:
            parts.append("mean" + ",".join(map(str, self.mean_blocks)))
        if self.cls_blocks:
            parts.append("cls" + ",".join(map(str, self.cls_blocks)))
        return "+".join(parts) + f"@{self.view}"

    def to_dict(self) -> dict[str, Any]:
        return {"mean_blocks": list(self.mean_blocks), "cls_blocks": list(self.cls_blocks), "view": self.view}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureSpec":
        return cls(mean_blocks=tuple(int(b) for b in d.get("mean_blocks", ())),
                   cls_blocks=tuple(int(b) for b in d.get("cls_blocks", ())), view=str(d.get("view", "resize224")))

    def summarise(self, hidden: dict[int, np.ndarray]) -> np.ndarray:
        """{block: (N, 197, 768)} -> (N, dim) feature vectors."""
        cols = [hidden[b][:, 1:].mean(axis=1) for b in self.mean_blocks]
        cols += [hidden[b][:, 0] for b in self.cls_blocks]
        return np.concatenate(cols, axis=1)

    def columns_in(self, stored: "FeatureSpec") -> np.ndarray:
        """Indices of this spec's features within a stored feature matrix laid out by `stored`."""
        idx = []
        for blocks, kind in ((self.mean_blocks, "mean"), (self.cls_blocks, "cls")):
            for b in blocks:
                have = stored.mean_blocks if kind == "mean" else stored.cls_blocks
                if b not in have:
                    raise KeyError(f"stored features lack {kind} of block {b}")
                offset = (list(have).index(b) + (0 if kind == "mean" else len(stored.mean_blocks))) * WIDTH
                idx.append(np.arange(offset, offset + WIDTH))
        return np.concatenate(idx)


class _ChunkStore:
    """npz chunks of per-file arrays in one folder whose meta.json says what they hold; resumable:
    files already stored are skipped, and a chunk is written whole (temp file + rename) or not at all."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / "meta.json"
        if meta_path.exists():
            have = json.loads(meta_path.read_text())
            if have != meta:
                raise ValueError(f"{self.folder} holds {have}, not {meta}")
        else:
            meta_path.write_text(json.dumps(meta, indent=2) + "\n")

    def _chunks(self) -> list[Path]:
        return sorted(self.folder.glob("chunk-*.npz"))

    def stored_keys(self) -> set[str]:
        out: set[str] = set()
        for c in self._chunks():
            with np.load(c, allow_pickle=False) as z:
                out.update(str(k) for k in z["keys"])
        return out

    def _iter(self, field: str) -> Iterator[tuple[list[str], np.ndarray]]:
        """(keys, rows of `field`) one stored chunk at a time, so a caller can copy out what it needs
        without holding the whole store twice."""
        for c in self._chunks():
            with np.load(c, allow_pickle=False) as z:
                yield [str(k) for k in z["keys"]], z[field]

    def _extract(self, encoder: ClipEncoder, items: Iterable[tuple[str, Callable[[], np.ndarray]]], view: str,
                 summarise: Callable[[dict[int, np.ndarray]], np.ndarray], field: str, *, batch: int, chunk: int,
                 progress: Optional[Callable[[int], None]] = None) -> int:
        """Run the encoder on `view`s of the items not stored yet, `batch` images at a time, and store
        `summarise(hidden states)` (one row per image, float16) under `field` in chunks of `chunk` images."""
        done = self.stored_keys()
        keys: list[str] = []
        rows: list[np.ndarray] = []
        pending_keys: list[str] = []
        pending_views: list[np.ndarray] = []

        def run_batch() -> None:
            if pending_views:
                rows.extend(summarise(encoder.hidden_states(np.stack(pending_views))).astype(np.float16))
                keys.extend(pending_keys)
                if progress:
                    progress(len(pending_keys))
                pending_keys.clear()
                pending_views.clear()

        added = 0
        for key, load in items:
            if key in done:
                continue
            try:
                rgb = load()
            except Exception as e:  # noqa: BLE001 - one unreadable file costs one entry
                print(f"skipped {key}: {type(e).__name__}: {e}")
                continue
            pending_views.append(make_view(rgb, view)[0])
            pending_keys.append(key)
            added += 1
            if len(pending_views) >= batch:
                run_batch()
            if len(keys) >= chunk:
                self._write(keys, **{field: np.stack(rows)})
                keys, rows = [], []
        run_batch()
        if keys:
            self._write(keys, **{field: np.stack(rows)})
        return added

    def _write(self, keys: list[str], **arrays: np.ndarray) -> None:
        n = len(self._chunks())
        path = self.folder / f"chunk-{n:05d}.npz"
        with replaced_atomically(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, keys=np.array(keys), **arrays)


class FeatureStore(_ChunkStore):
    """Per-image feature vectors (`FeatureSpec.summarise`) of many files under one view and one condition."""

    def __init__(self, folder: Path, spec: FeatureSpec, condition: str) -> None:
        super().__init__(folder, {"spec": spec.to_dict(), "condition": condition})
        self.spec = spec
        self.condition = condition

    def load(self) -> tuple[list[str], np.ndarray]:
        """(keys, (n, dim) float32 features) of everything stored."""
        keys: list[str] = []
        feats = []
        for chunk_keys, chunk in self._iter("feats"):
            keys += chunk_keys
            feats.append(chunk)
        return keys, (np.concatenate(feats).astype(np.float32) if feats else np.zeros((0, self.spec.dim), np.float32))

    def extract(self, encoder: ClipEncoder, items: Iterable[tuple[str, Callable[[], np.ndarray]]], *,
                batch: int = 16, chunk: int = 128, progress: Optional[Callable[[int], None]] = None) -> int:
        """Compute and store features of (key, load_rgb) items not stored yet; returns how many were added.
        `load_rgb` returns the image as it should be viewed (already perturbed); a loader that raises is skipped."""
        return self._extract(encoder, items, self.spec.view, self.spec.summarise, "feats", batch=batch, chunk=chunk,
                             progress=progress)


class TokenStore(_ChunkStore):
    """Patch-token states (196 tokens per image, blocks concatenated along the width) of many files
    under one view and one condition (float16)."""

    def __init__(self, folder: Path, blocks: Sequence[int], view: str, condition: str,
                 precision: str = "int8") -> None:
        self.blocks = tuple(int(b) for b in blocks)
        self.view = view
        meta: dict[str, Any] = {"blocks": list(self.blocks), "view": view, "condition": condition, "tokens": "patch"}
        if precision != "int8":  # stores of the INT8 graph predate the field
            meta["precision"] = precision
        super().__init__(folder, meta)

    def chunks(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """(keys, (n, 196, width * len(blocks)) float16 tokens) one stored chunk at a time."""
        return self._iter("tokens")

    def extract(self, encoder: ClipEncoder, items: Iterable[tuple[str, Callable[[], np.ndarray]]], *,
                batch: int = 8, chunk: int = 64) -> int:
        """Compute and store the tokens of (key, load_rgb) items not stored yet; returns how many were added.
        `load_rgb` returns the image as it should be viewed (already perturbed); a loader that raises is skipped."""
        def patch_tokens(hidden: dict[int, np.ndarray]) -> np.ndarray:
            return np.concatenate([hidden[b][:, 1:] for b in self.blocks], axis=2)

        return self._extract(encoder, items, self.view, patch_tokens, "tokens", batch=batch, chunk=chunk)

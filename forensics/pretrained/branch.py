"""The pretrained branch of a fused detector: truncated CLIP encoder + linear probe, one logit per image
and a coarse 14x14 token map that averages to it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from forensics.pretrained.clip_encoder import ClipEncoder, ViewBox, make_view
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.probe import LinearProbe


@dataclass(frozen=True)
class BranchOutput:
    logit: float
    token_logits: np.ndarray  # (14, 14): mean equals `logit`
    view: ViewBox


class ClipBranch:
    """Scores images with a linear probe on CLIP token features (graph cut at the deepest block used)."""

    def __init__(self, probe: LinearProbe, encoder: ClipEncoder) -> None:
        self.probe = probe
        self.encoder = encoder
        self.spec = probe.spec

    @classmethod
    def load(cls, model_dir: Path, section: dict[str, Any], *, clip_path: Union[str, Path, None] = None,
             threads: Optional[int] = None) -> "ClipBranch":
        """From a fused model folder's "clip" config section; raises PretrainedFileError when the encoder
        file is missing or damaged, ValueError when the probe does not fit the section."""
        spec = FeatureSpec.from_dict(section.get("features") or {})
        if not spec.blocks:
            raise ValueError(f"{model_dir}: clip.features names no blocks")
        probe = LinearProbe.load(Path(model_dir) / str(section.get("probe", "probe.safetensors")), spec)
        return cls(probe, ClipEncoder(spec.blocks, path=clip_path, threads=threads))

    def score(self, images: Sequence[np.ndarray], batch: int = 8) -> list[BranchOutput]:
        """One BranchOutput per RGB uint8 image."""
        out: list[BranchOutput] = []
        for i in range(0, len(images), batch):
            views = [make_view(im, self.spec.view) for im in images[i:i + batch]]
            hidden = self.encoder.hidden_states(np.stack([v for v, _ in views]))
            tokens = self.probe.token_logits(hidden)
            logits = self.probe.logits(self.spec.summarise(hidden))
            out += [BranchOutput(float(l), t, box) for l, t, (_, box) in zip(logits, tokens, views)]
        return out

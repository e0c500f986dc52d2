"""The pretrained branch of a fused detector: truncated CLIP encoder + linear probe, one logit per image
and a coarse 14x14 token map that averages to it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from forensics.pretrained.clip_encoder import ClipEncoder, ViewBox, make_view
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.kinds import KindRule
from forensics.pretrained.probe import LinearProbe
from forensics.pretrained.token_probe import TokenProbe


@dataclass(frozen=True)
class BranchOutput:
    logit: float
    token_logits: np.ndarray  # (14, 14) per-token logits (image probe: their mean equals `logit`)
    view: ViewBox
    kind_logits: tuple[float, ...] = ()  # one per kind probe (`forensics.pretrained.kinds`), on the same features
    expert_logits: tuple[float, ...] = ()  # one per kind: its expert's logit (NaN for a kind without one)


class ClipBranch:
    """Scores images with a linear probe on CLIP features (graph cut at the deepest block used): either
    per-image summaries of tokens (`LinearProbe`, "kind": "image") or every patch token with the image
    score a top-k mean of token logits (`TokenProbe`, "kind": "tokens")."""

    def __init__(self, probe: Union[LinearProbe, TokenProbe], encoder: ClipEncoder, view: str,
                 kinds: Sequence[KindRule] = ()) -> None:
        self.probe = probe
        self.encoder = encoder
        self.view = view
        self.kinds = tuple(kinds)  # their probes read the image probe's features: no extra encoder pass

    @classmethod
    def load(cls, model_dir: Path, section: dict[str, Any], *, clip_path: Union[str, Path, None] = None,
             threads: Optional[int] = None, device: str = "cpu") -> "ClipBranch":
        """From a fused model folder's "clip" config section; raises PretrainedFileError when the encoder
        file is missing or damaged, ValueError when the probe does not fit the section."""
        path = Path(model_dir) / str(section.get("probe", "probe.safetensors"))
        spec = FeatureSpec.from_dict(section.get("features") or {})
        if not spec.blocks:
            raise ValueError(f"{model_dir}: clip.features names no blocks")
        if section.get("kind", "image") == "tokens":
            frac = float(section.get("topk_fraction", 0.25))
            if not 0 < frac <= 1:
                raise ValueError(f"{model_dir}: clip.topk_fraction must be in (0, 1], got {frac}")
            probe: Union[LinearProbe, TokenProbe] = TokenProbe.load(path, spec.mean_blocks, frac)
        else:
            probe = LinearProbe.load(path, spec)
        precision = str(section.get("precision", "int8"))  # models built before the float32 graph used INT8
        encoder = ClipEncoder(spec.blocks, path=clip_path, threads=threads, precision=precision, device=device)
        return cls(probe, encoder, spec.view)

    def score(self, images: Sequence[np.ndarray], batch: int = 8) -> list[BranchOutput]:
        """One BranchOutput per RGB uint8 image."""
        out: list[BranchOutput] = []
        for i in range(0, len(images), batch):
            views = [make_view(im, self.view) for im in images[i:i + batch]]
            hidden = self.encoder.hidden_states(np.stack([v for v, _ in views]))
            if isinstance(self.probe, TokenProbe):
                tokens = self.probe.token_map(hidden)
                logits = self.probe.aggregate(tokens.reshape(len(tokens), -1))
                kinds = experts = np.zeros((len(views), 0))
            else:
                tokens = self.probe.token_logits(hidden)
                feats = self.probe.spec.summarise(hidden)
                logits = self.probe.logits(feats)
                kinds = np.stack([k.probe.logits(feats) for k in self.kinds], axis=1) if self.kinds \
                    else np.zeros((len(views), 0))
                experts = np.stack([k.expert.logits(feats) if k.expert is not None else np.full(len(feats), np.nan)
                                    for k in self.kinds], axis=1) if self.kinds else np.zeros((len(views), 0))
            out += [BranchOutput(float(l), t, box, tuple(float(x) for x in k), tuple(float(x) for x in e))
                    for l, t, (_, box), k, e in zip(logits, tokens, views, kinds, experts)]
        return out

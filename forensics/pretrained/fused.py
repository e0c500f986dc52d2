"""A fused detector: the patch model (heatmap, patch score) plus the pretrained CLIP branch, one verdict.

A fused model folder holds `config.json` (format "forensics-fused": which patch model, the CLIP feature
set, the combiner's weights, the verdict threshold and its calibration record) and `probe.safetensors`.
`Detector.load` on such a folder loads the patch model and attaches the branch here; when the encoder
file is missing the detector scores with the patch model alone and every record says so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import numpy as np

from forensics.aggregate import SCORE_DECIMALS
from forensics.checkpoint import CheckpointError, check_number
from forensics.pretrained.clip_file import PretrainedFileError
from forensics.pretrained.combiner import Combiner, sigmoid
from forensics.pretrained.kinds import judge_by_kind, load_kind_rules
from forensics.pretrained.probe import LinearProbe

BRANCH_MISSING_PREFIX = "pretrained branch unavailable:"


def attach_branch(det: Any, model_dir: Path, cfg: dict[str, Any], *, clip: Union[str, Path, None] = None) -> None:
    """Give a loaded patch detector its fused model's branch, combiner and threshold (in place)."""
    from forensics.pretrained.branch import ClipBranch

    det.fused_config = cfg
    try:
        combiner = Combiner.from_dict(cfg.get("combiner") or {})
        threshold = check_number(cfg, "threshold", 0.0, 1.0)
    except (ValueError, CheckpointError) as e:
        raise CheckpointError(f"{model_dir / 'config.json'}: {e}") from None
    try:
        branch = ClipBranch.load(model_dir, cfg.get("clip") or {}, clip_path=clip, device=str(det.device))
    except PretrainedFileError as e:
        det.branch_note = (f"{BRANCH_MISSING_PREFIX} {e}; verdict from the patch model {det.model_id} alone "
                           f"at its threshold {det.threshold:.6f}")
        return
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if cfg.get("kinds"):
        if not isinstance(branch.probe, LinearProbe):
            raise CheckpointError(f"{model_dir / 'config.json'}: kinds need an image probe (clip.kind 'image')")
        try:
            branch.kinds = tuple(load_kind_rules(model_dir, cfg["kinds"], branch.probe.spec))
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    det.branch, det.combiner = branch, combiner
    det.threshold = threshold
    det.real_below = check_number(cfg, "real_below", 0.0, 1.0) if cfg.get("real_below") is not None else None
    det.model_id = str(cfg.get("model_id") or Path(model_dir).name)


def fuse(det: Any, patch_score: float, branch_out: Any, width: int, height: int) -> tuple[float, dict[str, Any]]:
    """(verdict score, per-branch record) of one image."""
    patch = {"model": det.patch_model_id, "score": patch_score, "threshold": det.patch_threshold}
    if branch_out is None or det.combiner is None:
        return patch_score, {"patch": patch, "clip": None}
    tokens = branch_out.token_logits
    r, c = np.unravel_index(int(np.argmax(tokens)), tokens.shape)
    rules = det.branch.kinds
    # a kind with its own probe (e.g. close-up faces): the CLIP logit moves toward the kind's expert
    blended, routed = judge_by_kind(rules, np.array([branch_out.logit]), [np.array([v]) for v in branch_out.kind_logits],
                                    [np.array([v]) for v in branch_out.expert_logits])
    k = int(routed[0])
    rule = rules[k] if k >= 0 else None
    clip_logit = float(blended[0])
    clip = {"score": round(float(sigmoid(clip_logit)), SCORE_DECIMALS),
            "logit": round(clip_logit, 4),
            "max_token_box": list(branch_out.view.token_box(int(r), int(c), width, height))}
    logit = float(det.combiner.logit(clip_logit, patch_score))
    if rules:
        # a recognised kind of picture (e.g. a false-colour thermal image) is judged against real photos of its kind
        clip["kind"] = rule.name if rule else None
        clip["kind_logits"] = {kind.name: round(float(v), 4) for kind, v in zip(rules, branch_out.kind_logits)}
        clip["kind_offset"] = rule.offset if rule else 0.0
        if rule is not None and rule.expert is not None:
            clip["general_logit"] = round(float(branch_out.logit), 4)
            clip["expert_logit"] = round(float(branch_out.expert_logits[k]), 4)
        logit += rule.offset if rule else 0.0
    score = round(float(sigmoid(logit)), SCORE_DECIMALS)
    return score, {"patch": patch, "clip": clip}

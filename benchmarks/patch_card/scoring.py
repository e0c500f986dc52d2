"""The model card's inputs and scores: the held-back validation files of every training source, the
degraded copies the card scores them under, cell maps, image scores under a rule, paired bootstrap
comparisons and throughput. Shared by the card, `outside_reals.py` and the screening scripts."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np


REPO = Path(__file__).resolve().parents[2]
ROLES = ("default", "fast")
# the colour control's filters: (name, saturation factor), as phone cameras and photo apps apply them
COLOUR_FILTERS = (("vivid", 1.5), ("muted", 0.5))
# the group of benchmarks/outside_reals.py that holds rendered graphics, scored apart from its photographs
GRAPHICS_GROUP = "rendered graphics (not photographs)"
LFW_GROUP = "LFW face thumbnails (25 px, grayscale)"
ROLE_TEXT = {"default": "the embedded default detector",
             "fast": "shipped as `--model fast`: the speed-first detector"}


def other_text(card: dict, other: dict) -> str:
    """How a card names the model it is compared with: its role, or 'previous' for an earlier model
    of the same role (e.g. the default this one replaced)."""
    role = role_of(other)
    if role == card.get("role", "default") and other.get("model") != card.get("model"):
        return f"the previous {role} detector"
    return ROLE_TEXT[role]


def role_of(card: dict) -> str:
    """A card's role; cards written before roles existed are named after their file."""
    return card.get("role") or ("default" if Path(card.get("card", "")).stem in ("default_model", "patch_model") else "fast")


def all_val_files(cfg: dict, split: str = "val") -> dict[str, tuple[int, list[Path]]]:
    """{source name: (label, every held-back validation file)} of the run's training sources (with
    `split="train"`, every training file instead)."""
    from forensics.training.data import FAKE, REAL, make_sources

    t = cfg["training"]
    out = {}
    for dirs, label in ((t["real"], REAL), (t["fake"], FAKE)):
        for s in make_sources([REPO / d for d in dirs], label, split=split, val_fraction=t["val_fraction"]):
            out[s.name] = (label, list(s.files))
    return out


def val_files(cfg: dict, per_source: int, split: str = "val") -> dict[str, tuple[int, list[Path]]]:
    """The card's evenly spaced subsample of at most `per_source` validation files per source (of the
    training files with `split="train"`)."""
    out = {}
    for name, (label, files) in all_val_files(cfg, split).items():
        step = max(1, len(files) // per_source)
        out[name] = (label, files[::step][:per_source])
    return out


def score_arrays(det, arrays) -> np.ndarray:
    return np.array([r.score for r in det.scan_many(arrays, batch_size=4, provenance=False)], dtype=float)


# Image-score rules every model is also scored with, to show what the choice of rule does.
CANDIDATE_RULES = ("mean_prob", "mean_logit", "topk:0.5", "topk:0.25")


def model_maps(det, pix: dict, degraded: dict) -> dict:
    """Each image's cell fake-logit map, per image set: clean (`pix`), after JPEG 75 + 0.5x, and the
    downscale control, so that any image-score rule can be applied without running the model again."""
    def maps(arrays) -> list:
        return [det.cell_map(a).fake_logit for a in arrays]
    return {"clean": {n: maps(arrs) for n, (_, arrs) in pix.items()},
            "jpeg75_resize0.5": {n: maps(arrs) for n, arrs in degraded["jpeg75_resize0.5"].items()},
            "control_downscale": {k: maps(arrs) for k, arrs in degraded["control_downscale"].items()},
            "control_colour": {k: maps(arrs) for k, arrs in degraded["control_colour"].items()}}


def scores_of(maps: dict, rule) -> dict:
    """{set name: image scores} under one image-score rule, as scans report them (and decide on them)."""
    from forensics.aggregate import SCORE_DECIMALS

    return {n: np.round(np.array([rule(m) for m in ms], dtype=float), SCORE_DECIMALS) for n, ms in maps.items()}


def rule_comparison(maps: dict, reals: list, fakes: list, target_fpr: float, shipped=None) -> dict:
    """Mean AP (clean and re-encoded) and threshold of one model under each candidate image-score rule
    (the `shipped` rule, rescaling included, in place of the candidate of its name)."""
    from forensics.aggregate import ScoreRule
    from forensics.calibrate import threshold_for_fpr
    from forensics.metrics import mean_ap

    out = {}
    for name in CANDIDATE_RULES:
        rule = shipped if shipped is not None and shipped.name == name else ScoreRule.parse(name)
        clean, deg = scores_of(maps["clean"], rule), scores_of(maps["jpeg75_resize0.5"], rule)
        out[name] = {"threshold": max(threshold_for_fpr(clean[n], target_fpr) for n in reals),
                     "clean": mean_ap(clean, reals, fakes), "jpeg75_resize0.5": mean_ap(deg, reals, fakes)}
    return out


COMPARED_CONDITIONS = ("clean", "jpeg75_resize0.5")


def condition_scores(maps: dict, rule) -> dict:
    """{condition: image scores} of one model under the conditions models are compared on."""
    return {c: scores_of(maps[c], rule) for c in COMPARED_CONDITIONS}


def versus(base_scores: dict, other_scores: dict, reals: list, fakes: list) -> dict:
    """Mean-AP difference of another model over a base one (each {condition: scores}, `condition_scores`),
    clean and after JPEG 75 + 0.5x, each with its 95% paired bootstrap interval on the same files
    (`forensics.metrics.paired_bootstrap_mean_ap`): whether the validation sample can tell the two apart at all."""
    from forensics.metrics import paired_bootstrap_mean_ap

    return {c: paired_bootstrap_mean_ap(base_scores[c], other_scores[c], reals, fakes) for c in COMPARED_CONDITIONS}


def ap_without_top_real(clean: dict, reals: list, ap_by_real: dict) -> dict[str, float]:
    """How much one photo matters: each fake set's pooled AP with one photo left out, the highest-scoring
    photo of the real source it has its lowest AP against (`ap_by_real`: {fake: {real: AP}})."""
    out = {}
    for f, row in ap_by_real.items():
        worst = min(row, key=row.get)
        out[f] = _ap({**clean, worst: np.delete(clean[worst], np.argmax(clean[worst]))}, reals, f)
    return out


def interval_text(v: dict) -> str:
    """'+0.00003 [-0.00019, +0.00031]': a `paired_bootstrap_mean_ap` result in one phrase."""
    return f"{v['difference']:+.5f} [{v['low']:+.5f}, {v['high']:+.5f}]"


def _ap(scores: dict, reals: list, fake: str) -> float:
    from forensics.metrics import mean_ap

    return mean_ap(scores, reals, [fake])


def throughputs(models: dict, size: int, batch: int, rounds: int = 5, seconds: float = 1.5) -> dict[str, float]:
    """Images/s of each model on a `size` px batch: PyTorch fp32, channels_last, BatchNorm folded (the
    shipped scan path), timed in interleaved rounds with each model's best round kept, so that the
    ratios compare the models under the same machine load."""
    import torch

    from forensics.fusion import fold_batchnorm
    from performance import interleaved_best  # benchmarks/performance.py

    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)

    def step_of(model):
        net = fold_batchnorm(model).to(memory_format=torch.channels_last)

        def step() -> int:
            with torch.inference_mode():
                net(x)
            return batch
        return step
    res = interleaved_best({k: step_of(m) for k, m in models.items()}, rounds, seconds)
    return {k: v["best"] for k, v in res.items()}


def card_inputs(cfg: dict, per_source: int, prepare: Optional[Callable[[np.ndarray], np.ndarray]] = None
                ) -> tuple[dict, dict, list, list, dict]:
    """What every model on a card is scored on: the validation subsample (`val_files`), its decoded
    pixels per set, the real and fake set names, and the re-encoded, downscaled and colour-filtered copies.
    `prepare` (pixels -> pixels), if given, is applied to every decoded image first (diagnostics only)."""
    from forensics.decoding import load_image

    sets = val_files(cfg, per_source)
    prepare = prepare or (lambda rgb: rgb)
    pix = {name: (label, [prepare(load_image(f).rgb) for f in files]) for name, (label, files) in sets.items()}
    reals = [n for n, (lab, _) in pix.items() if lab == 0]
    fakes = [n for n, (lab, _) in pix.items() if lab == 1]
    return sets, pix, reals, fakes, degraded_inputs(pix)


def degraded_inputs(pix: dict) -> dict:
    """The re-encoded pixels every model is scored on, made once: each set after JPEG 75 + 0.5x resize,
    real photos downscaled 2x / 4x and re-saved as JPEG q90 (the downscale control), and real photos
    through a vivid (saturation x1.5) or muted (x0.5) colour filter, re-saved as JPEG q90 (the colour control)."""
    from forensics.training.data import scale_saturation
    from forensics.perturb import parse_perturbation
    from forensics.stability import jpeg, resize

    degrade = parse_perturbation("jpeg:75+resize:0.5")
    return {"jpeg75_resize0.5": {n: [degrade(a) for a in arrs] for n, (_, arrs) in pix.items()},
            "control_downscale": {f"{n} /{f}": [jpeg(resize(a, 1 / f), 90) for a in arrs if min(a.shape[:2]) // f >= 16]
                                  for n, (lab, arrs) in pix.items() if lab == 0 for f in (2, 4)},
            "control_colour": {f"{n} {name} x{f:g}": [jpeg(scale_saturation(a, f), 90) for a in arrs]
                               for n, (lab, arrs) in pix.items() if lab == 0 for name, f in COLOUR_FILTERS}}

"""A shipped fused model's verdicts on named sources of a recipe, from the feature store: which candidate real
sources it already calls `real` and which it finds fake-looking (the ones worth training on, section 36 of
reports/fused/selection.md).

    python benchmarks/fused_score_sources.py --model forensics/weights/fused --config configs/fused/default.json \
        --store runs/features --sources web-template-portraits,web-template-stock [--json out.json]

The sources' CLIP tokens and patch scores must be in the store (`forensics train-fused` or
`forensics.pretrained.recipe.extract_tokens` put them there); nothing is extracted. Per source and condition
it prints the photos called `fake` (at or above the model's threshold) and `uncertain` (between its
`real_below` band and the threshold) and the highest fused logit.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from forensics.aggregate import SCORE_DECIMALS  # noqa: E402
from forensics.detector import verdict_label  # noqa: E402
from forensics.results import LABEL_FAKE, LABEL_UNCERTAIN  # noqa: E402
from forensics.pretrained.combiner import Combiner, sigmoid  # noqa: E402
from forensics.pretrained.dataset import load_sources  # noqa: E402
from forensics.pretrained.features import FeatureSpec  # noqa: E402
from forensics.pretrained.kinds import judge_by_kind, load_kind_rules, shift  # noqa: E402
from forensics.pretrained.probe import LinearProbe  # noqa: E402
from forensics.pretrained.recipe import CLEAN, PatchScorer, load_tokens, patch_score_path, token_means  # noqa: E402


def verdict_counts(fused_logit: np.ndarray, sources: np.ndarray, threshold: float,
                   real_below: float | None) -> dict[str, dict[str, Any]]:
    """{source: {n, fake, uncertain, max_logit}}: each fused logit labelled as `forensics scan` labels it (P(fake)
    rounded as the scan reports it, `verdict_label` at the model's threshold and real band)."""
    scores = np.round(sigmoid(fused_logit), SCORE_DECIMALS)
    labels = np.array([verdict_label(float(s), threshold, real_below) for s in scores])
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(sources.tolist())):
        mine = sources == name
        out[name] = {"n": int(mine.sum()), "fake": int((labels[mine] == LABEL_FAKE).sum()),
                     "uncertain": int((labels[mine] == LABEL_UNCERTAIN).sum()),
                     "max_logit": round(float(fused_logit[mine].max()), 3)}
    return out


def score_sources(model: Path, config: Path, store: Path, names: list[str]) -> dict[str, Any]:
    """Verdict counts of the fused model folder `model` on the sources `names` of the recipe `config`, per condition."""
    cfg = json.loads(config.read_text())
    wanted = set(names)
    sources = [s for s in load_sources(cfg, config.parent) if s.name in wanted]
    if missing := sorted(wanted - {s.name for s in sources}):
        raise SystemExit(f"error: {config}: no images for source(s) {', '.join(missing)}")
    shipped = json.loads((model / "config.json").read_text())
    spec = FeatureSpec.from_dict(shipped["clip"]["features"])
    probe = LinearProbe.load(model / "probe.safetensors", spec)
    combiner = Combiner.from_dict(shipped["combiner"])
    rules = load_kind_rules(model, shipped.get("kinds") or [], spec)
    section = cfg["clip"]
    blocks = tuple(int(b) for b in section.get("token_blocks", section["features"]["mean_blocks"]))
    stored = FeatureSpec(mean_blocks=blocks, view=spec.view)
    conditions = list(cfg.get("conditions", [CLEAN]))
    patch_store = PatchScorer(cfg["patch_model"], store)
    out: dict[str, Any] = {"model": shipped.get("model_id", str(model)), "threshold": shipped["threshold"],
                           "real_below": shipped.get("real_below"), "conditions": {}}
    for cond in conditions:
        rows, tokens = load_tokens(sources, blocks, spec.view, [cond], store, str(section.get("precision", "int8")))
        if not len(rows.keys):
            raise SystemExit(f"error: {store}: no stored tokens for these sources under {cond}")
        feats = token_means(tokens, spec.columns_in(stored))
        clip, routed = judge_by_kind(rules, probe.logits(feats), [r.probe.logits(feats) for r in rules],
                                     [None if r.expert is None else r.expert.logits(feats) for r in rules])
        stored_patch = patch_store.scores(cond)
        if unscored := [k for k in rows.keys if k not in stored_patch]:
            raise SystemExit(f"error: {patch_score_path(store, cfg['patch_model'], cond)}: no patch score for "
                             f"{len(unscored)} image(s), e.g. {unscored[0]}")
        patch = np.array([stored_patch[k] for k in rows.keys], float)
        fused = np.asarray(combiner.logit(clip, patch), float)
        if rules:  # the shipped model's kinds of picture with their own threshold, as the scan applies them
            fused = shift(fused, routed, [r.offset for r in rules])
        out["conditions"][cond] = verdict_counts(fused, rows.source, shipped["threshold"], shipped.get("real_below"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "forensics/weights/fused")
    ap.add_argument("--config", type=Path, required=True, help="recipe that lists the sources")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--sources", required=True, help="comma-separated source names of the recipe")
    ap.add_argument("--json", type=Path, help="also write the counts here")
    args = ap.parse_args(argv)
    result = score_sources(args.model, args.config, args.store, [s for s in args.sources.split(",") if s])
    band = "no real band" if result["real_below"] is None else f"real below {result['real_below']:.4f}"
    print(f"{result['model']}: threshold {result['threshold']:.4f}, {band}")
    for cond, per in result["conditions"].items():
        print(f"{cond}: {sum(v['n'] for v in per.values())} images, {sum(v['fake'] for v in per.values())} fake, "
              f"{sum(v['uncertain'] for v in per.values())} uncertain")
        for name, v in per.items():
            print(f"  {name:36s} {v['n']:4d}  fake {v['fake']:3d}  uncertain {v['uncertain']:3d}  max logit {v['max_logit']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pilot for a probe per kind of picture (reports/fused/selection.md, sections 39 and 41): on the rows of one content
cell (default: close-up faces, `clip.balance_content`'s "faces-hq"), a probe fitted on that cell's rows alone against
the recipe's general probe, both cross-fitted leave-family-out with held-out real sources, scored on the cell's
left-out fakes against its held-out photos only (CLIP logits alone, AP with both classes weighted equally, every
condition of the recipe).

`--views` also fits the expert on other views of the same images (section 41): `crop224`, the centre 224 px at
native resolution, and `r448`, the shorter side resized to 448 and the centre 224 px kept (the central half at twice
the shipped view's scale). Their token means are computed for the cell's images on first use and kept in `--cache` (a FeatureStore per
view and condition).

    python benchmarks/kind_expert_pilot.py --config configs/fused/default.json --store runs/features \\
        --json reports/fused/kind_expert_pilot.json
    python benchmarks/kind_expert_pilot.py --config configs/fused/default.json --store runs/features \\
        --views crop224,r448 --cache runs/expert_views --json reports/fused/kind_expert_views.json

`--blocks` fits the expert on other blocks of the shipped view (section 42): within one kind of content the deep
blocks' content is shared by both classes, so what the general probe must avoid there may serve the expert. Each
argument is a feature name as `FeatureSpec.name` writes it without the view (`mean9,10,11+cls11`):

    python benchmarks/kind_expert_pilot.py --config configs/fused/default.json --store runs/features \\
        --blocks mean9,10,11+cls11 mean7,8,9 --cache runs/expert_views --json reports/fused/kind_expert_blocks.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLOSER_VIEWS = ("crop224", "r448")


def balanced_ap(fake: np.ndarray, real: np.ndarray) -> float:
    """Average precision of fakes over reals with both classes weighted equally."""
    from sklearn.metrics import average_precision_score

    y = np.r_[np.ones(len(fake)), np.zeros(len(real))]
    w = np.r_[np.full(len(fake), 1 / len(fake)), np.full(len(real), 1 / len(real))]
    return float(average_precision_score(y, np.r_[fake, real], sample_weight=w))


def zoomed(rgb: np.ndarray, view: str) -> np.ndarray:
    """The image as it should reach `make_view(..., "crop224")` (the expert's store applies it) to give the closer
    `view`: as it is for "crop224" (the native centre crop), its shorter side resized to 448 (bicubic) for "r448"."""
    from PIL import Image

    if view == "crop224":
        return rgb
    if view != "r448":
        raise ValueError(f"unknown closer view {view!r}; use one of {', '.join(CLOSER_VIEWS)}")
    h, w = rgb.shape[:2]
    s = min(h, w) / 448
    return np.asarray(Image.fromarray(rgb).resize((max(448, round(w / s)), max(448, round(h / s))), Image.BICUBIC))


def parse_blocks(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(mean_blocks, cls_blocks) of a feature name as `FeatureSpec.name` writes it, without the view:
    "mean9,10,11+cls11" -> ((9, 10, 11), (11,))."""
    found: dict[str, tuple[int, ...]] = {"mean": (), "cls": ()}
    for part in name.split("+"):
        kind = next((k for k in found if part.startswith(k)), None)
        numbers = part[len(kind):].split(",") if kind else []
        if not kind or not numbers or not all(n.isdigit() and int(n) < 12 for n in numbers):
            raise ValueError(f"{name!r}: expected parts like mean9,10,11 or cls11 (blocks 0-11) joined by +")
        found[kind] += tuple(int(n) for n in numbers)
    return found["mean"], found["cls"]


def stored_features(keys: Sequence[str], load: Callable[[str], np.ndarray], spec: Any, encoder: Any, folder: Path,
                    condition: str) -> dict[str, np.ndarray]:
    """{key: features of `spec`} of `load(key)` (the image as `spec.view` should see it), kept in a `FeatureStore`
    at `folder`: keys already stored are not loaded again."""
    from forensics.pretrained.features import FeatureStore

    store = FeatureStore(folder, spec, condition)
    store.extract(encoder, ((k, lambda k=k: load(k)) for k in keys))
    stored, feats = store.load()
    return dict(zip(stored, feats))


def cell_table(rows: Any, in_cell: np.ndarray, crossfits: dict[str, Any], condition: str = "clean"
               ) -> dict[str, dict[str, float]]:
    """{family: {n, n_real, <name>: AP, "half:<name>": AP of the mean with "general"}} on the cell's rows of
    `condition`: each cross-fit's left-out fakes of the cell against the cell's held-out photos. `crossfits` must
    hold "general" (the recipe's probe); every other entry is an expert."""
    general = crossfits["general"]
    rows_of = in_cell & (rows.condition == condition)
    out: dict[str, dict[str, float]] = {}
    for fam in sorted(set(rows.family[in_cell & (rows.label == 1)])):
        f = rows_of & np.isfinite(general.fake_logit[fam])
        r = rows_of & (rows.label == 0) & np.isfinite(general.real_logit_without[fam])
        if not f.any() or not r.any():
            continue
        rec: dict[str, float] = {"n": int(f.sum()), "n_real": int(r.sum())}
        g = (general.fake_logit[fam][f], general.real_logit_without[fam][r])
        for name, cf in crossfits.items():
            e = (cf.fake_logit[fam][f], cf.real_logit_without[fam][r])
            rec[name] = round(balanced_ap(*e), 3)
            if name != "general":
                rec[f"half:{name}"] = round(balanced_ap((g[0] + e[0]) / 2, (g[1] + e[1]) / 2), 3)
        out[str(fam)] = rec
    return out


def print_table(cell: str, condition: str, table: dict[str, dict[str, float]]) -> None:
    names = [k for k in next(iter(table.values())) if k not in ("n", "n_real")]
    print(f"\n{condition}: | family ({cell}) | fakes | held-out photos | " + " | ".join(names) + " |")
    print("|---" * (3 + len(names)) + "|")
    for fam, r in sorted(table.items(), key=lambda t: t[1]["general"]):
        print(f"| {fam} | {r['n']} | {r['n_real']} | " + " | ".join(f"{r[k]:.3f}" for k in names) + " |")
    print("| mean | | | " + " | ".join(f"{np.mean([r[k] for r in table.values()]):.3f}" for k in names) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--cell", default="faces-hq", help="content cell of clip.balance_content whose rows the expert fits")
    ap.add_argument("--views", default="", help=f"comma-separated closer views for more experts ({', '.join(CLOSER_VIEWS)})")
    ap.add_argument("--blocks", nargs="*", default=[],
                    help="more experts on other blocks of the shipped view, e.g. mean9,10,11+cls11")
    ap.add_argument("--cache", type=Path, default=REPO / "runs" / "expert_views", help="where closer views' means are kept")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.decoding import load_image
    from forensics.pretrained.clip_encoder import ClipEncoder
    from forensics.pretrained.features import FeatureSpec
    from forensics.pretrained.probe import balanced_weights, fit_probe
    from forensics.pretrained.recipe import (ProbeKind, condition_folder, crossfit_grouping, image_key, perturbation,
                                             stored_rows)
    from forensics.pretrained.selection import cross_fit, restricted

    cfg = json.loads(args.config.read_text())
    sources, blocks, rows, tokens = stored_rows(cfg, args.config.parent, args.store, require=True)
    kind = ProbeKind(cfg["clip"], blocks, sources)
    if kind.content_of is None:
        sys.exit(f"error: {args.config}: clip.balance_content names no content cells")
    views = [v for v in args.views.split(",") if v]
    for v in views:
        if v not in CLOSER_VIEWS:
            sys.exit(f"error: --views: unknown view {v!r}; use {', '.join(CLOSER_VIEWS)}")
    try:
        block_specs = {name: FeatureSpec(*parse_blocks(name), view=kind.spec.view) for name in args.blocks}
    except ValueError as e:
        sys.exit(f"error: --blocks: {e}")
    in_cell = np.array([kind.content_of[s] == args.cell for s in rows.source])
    trainable = ~np.isin(rows.source, sorted(set(cfg.get("eval_only_sources", []))))
    grouping = crossfit_grouping(cfg)

    # the recipe's own probe fit (content-balanced weights, its L2), restricted to the rows of a mask
    fit_on = lambda mask: restricted(kind.fitter(tokens), mask & trainable)  # noqa: E731
    crossfits = {"general": cross_fit(rows, fit_on(np.ones(len(rows.label), bool)), **grouping),
                 "expert": cross_fit(rows, fit_on(in_cell), **grouping)}
    # (name, spec the expert reads, spec stored, how the image is framed for the stored spec's view, folder);
    # every --blocks expert reads its columns of one store of all their blocks, extracted in one pass
    experts = [(f"expert:{v}", FeatureSpec(mean_blocks=tuple(kind.spec.mean_blocks), view="crop224"), None,
                lambda rgb, v=v: zoomed(rgb, v), v) for v in views]
    if block_specs:
        union = FeatureSpec(mean_blocks=tuple(sorted({b for s in block_specs.values() for b in s.mean_blocks})),
                            cls_blocks=tuple(sorted({b for s in block_specs.values() for b in s.cls_blocks})),
                            view=kind.spec.view)
        experts += [(f"expert:{name}", spec, union, lambda rgb: rgb, union.name().replace("@", "__"))
                    for name, spec in block_specs.items()]
    if experts:
        files = {image_key(s, f): f for s in sources for f in s.files}
        cell_rows = np.flatnonzero(in_cell)
        precision = str(cfg["clip"].get("precision", "int8"))
        stored: dict[str, np.ndarray] = {}
        for name, spec, store_spec, frame, folder in experts:
            store_spec = store_spec or spec
            if folder not in stored:
                encoder = ClipEncoder(store_spec.blocks, precision=precision)
                stored[folder] = np.zeros((len(rows.label), store_spec.dim), np.float32)
                for cond in sorted(set(rows.condition)):
                    at = cell_rows[rows.condition[cell_rows] == cond]
                    fn = perturbation(cond)
                    got = stored_features([str(k) for k in rows.keys[at]],
                                          lambda k, fn=fn, frame=frame: frame(fn(load_image(files[k]).rgb)),
                                          store_spec, encoder, args.cache / f"{folder}__{condition_folder(cond)}", cond)
                    stored[folder][at] = np.stack([got[str(k)] for k in rows.keys[at]])
            feats = stored[folder][:, spec.columns_in(store_spec)]

            def fit(idx: np.ndarray, y: np.ndarray, src: np.ndarray, feats: np.ndarray = feats, spec=spec):
                probe = fit_probe(feats[idx[:, 0]], y, spec, weights=balanced_weights(y, src), l2=kind.l2)
                return lambda jdx: probe.logits(feats[jdx[:, 0]])

            crossfits[name] = cross_fit(rows, restricted(fit, in_cell & trainable), **grouping)
    tables = {cond: cell_table(rows, in_cell, crossfits, cond) for cond in cfg.get("conditions", ["clean"])}
    for cond, table in tables.items():
        print_table(args.cell, cond, table)
    if args.json:
        args.json.write_text(json.dumps({"config": str(args.config), "cell": args.cell, "views": views,
                                         "blocks": list(args.blocks),
                                         "conditions": tables}, indent=1) + "\n")


if __name__ == "__main__":
    main()

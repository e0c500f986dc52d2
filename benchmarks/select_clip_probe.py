"""Choose the CLIP probe's features and regularisation on generator families it never saw.

    python benchmarks/select_clip_probe.py --config configs/fused/default.json --store runs/features \
        --view resize224 --specs "mean6,7,8" "mean6,7,8,9+cls9,10,11" --l2 1e-3,1e-2 --json reports/fused/selection.jsonl

For each candidate (feature set x L2 strength) it runs leave-family-out x leave-real-group-out
cross-fitting (`forensics.pretrained.selection`) and prints, per left-out family, AP clean and after
JPEG 75 + 0.5x, and the share flagged at the threshold that keeps 1% of held-out real photos' scores
(source-balanced) above it; candidates are ranked by their worst family.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

DEGRADED = "jpeg:75+resize:0.5"


def parse_spec(text: str, view: str):
    from forensics.pretrained.features import FeatureSpec

    mean, cls = (), ()
    for part in text.split("+"):
        if part.startswith("mean"):
            mean = tuple(int(b) for b in part[4:].split(","))
        elif part.startswith("cls"):
            cls = tuple(int(b) for b in part[3:].split(","))
        else:
            raise SystemExit(f"error: bad feature spec part {part!r}")
    return FeatureSpec(mean, cls, view)


def load_rows(config: Path, store: Path, view: str, conditions: list[str]):
    """Rows of every stored image of the recipe's sources under each condition (images missing a condition dropped)."""
    from clip_features import STORED_BLOCKS, store_folder

    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.features import FeatureSpec, FeatureStore
    from forensics.pretrained.selection import Rows

    cfg = json.loads(config.read_text())
    sources = {s.name: s for s in load_sources(cfg, config.parent)}
    stored = FeatureSpec(STORED_BLOCKS, STORED_BLOCKS, view)
    per_cond = {}
    for cond in conditions:
        keys, feats = FeatureStore(store_folder(store, view, cond), stored, cond).load()
        per_cond[cond] = dict(zip(keys, range(len(keys)))), feats
    wanted = [f"{s.name}/{f.relative_to(s.folder)}" for s in sources.values() for f in s.files]
    common = [k for k in wanted if all(k in per_cond[c][0] for c in conditions)]
    parts = {k: [] for k in ("feats", "keys", "label", "family", "source", "condition")}
    for cond in conditions:
        index, feats = per_cond[cond]
        idx = np.array([index[k] for k in common])
        parts["feats"].append(feats[idx])
        parts["keys"] += common
        src = [sources[k.split("/", 1)[0]] for k in common]
        parts["label"] += [s.label for s in src]
        parts["family"] += [s.family for s in src]
        parts["source"] += [s.name for s in src]
        parts["condition"] += [cond] * len(common)
    return Rows(np.concatenate(parts["feats"]), np.array(parts["keys"]), np.array(parts["label"]),
                np.array(parts["family"]), np.array(parts["source"]), np.array(parts["condition"])), stored


def report(rec: dict, heading: str, json_path: Path | None) -> None:
    """Print one candidate's families and real sources; append its record to `json_path`."""
    print(f"\n== {heading}")
    for r in rec["families"]:
        print("   " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    print("   reals: " + ", ".join(f"{r['source']} {r['fp_clean']}/{r['n_clean']}" for r in rec["reals"]), flush=True)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")


def probe_fit(spec, stored, l2: float):
    from forensics.pretrained.probe import balanced_weights, fit_probe

    cols = spec.columns_in(stored)

    def fit(x, y, src):
        probe = fit_probe(x[:, cols], y, spec, weights=balanced_weights(y, src), l2=l2)
        return lambda z: probe.logits(z[:, cols])

    return fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--view", default="resize224")
    ap.add_argument("--specs", nargs="+", required=True)
    ap.add_argument("--l2", default="1e-3")
    ap.add_argument("--degraded", action="store_true", help=f"also score and train on {DEGRADED}")
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.report_figures import family_table, real_table
    from forensics.pretrained.selection import cross_fit

    conditions = ["clean"] + ([DEGRADED] if args.degraded else [])
    rows, stored = load_rows(args.config, args.store, args.view, conditions)
    print(f"{len(rows.label)} rows: {int((rows.label == 1).sum())} fake, {int((rows.label == 0).sum())} real; "
          f"families {sorted(set(rows.family[rows.label == 1]))}", flush=True)
    results = []
    for text in args.specs:
        spec = parse_spec(text, args.view)
        for l2 in (float(v) for v in args.l2.split(",")):
            t0 = time.time()
            cf = cross_fit(rows, probe_fit(spec, stored, l2), n_groups=args.groups)
            clean_real = (rows.label == 0) & (rows.condition == "clean")
            thr = balanced_threshold(cf.real_logit[clean_real], rows.source[clean_real], 0.01)
            fam = family_table(cf, thr, degraded=DEGRADED if args.degraded else None)
            reals = real_table(cf, thr, conditions=tuple(conditions))
            rec = {"spec": spec.name(), "l2": l2, "threshold_logit": thr, "families": fam, "reals": reals,
                   "worst_ap_clean": min(r["ap_clean"] for r in fam),
                   "worst_flagged_clean": min(r["flagged_clean"] for r in fam),
                   "mean_ap_clean": float(np.mean([r["ap_clean"] for r in fam])),
                   "seconds": round(time.time() - t0, 1)}
            if args.degraded:
                rec["worst_ap_degraded"] = min(r["ap_degraded"] for r in fam)
                rec["mean_ap_degraded"] = float(np.mean([r["ap_degraded"] for r in fam]))
            results.append(rec)
            report(rec, f"{spec.name()} l2={l2}  worst AP clean {rec['worst_ap_clean']:.3f}  mean {rec['mean_ap_clean']:.3f}"
                   + (f"  worst AP re-enc {rec['worst_ap_degraded']:.3f} mean {rec['mean_ap_degraded']:.3f}" if args.degraded else "")
                   + f"  worst flagged {rec['worst_flagged_clean']:.2f}  ({rec['seconds']} s)", args.json)


if __name__ == "__main__":
    main()

"""Paired data on the native-pixel branch: the shipped patch model fine-tuned on real photos and their TAEF2
reconstructions (`data_sources/reconstruct.py`), scored alone per fake family against real photos it never
trained on (`reports/fused/selection.md`, section 22).

Each pair's real half is its parent framed exactly as the reconstruction was (same resize, crop and file
format; framed once per parent, whatever the number of decoders), so the two halves differ only by the
autoencoder. Both halves are cut into 128 px crops
(`forensics.training.crops`), `forensics train` warm-starts from the shipped patch model, and every image of
the recipe is scored under every condition into the feature store (`patch__<model folder>__<condition>.json`,
which `benchmarks/fused_same_rows.py` reads for a recipe whose `patch_model` names the new model).

    python data_sources/reconstruct.py --config configs/fused/v8.json
    python benchmarks/patch_pairs.py --pairs-config configs/fused/v8.json --config configs/fused/default.json \\
        --store runs/features --out runs/patch-taef2-pairs --json reports/fused/patch_pairs.jsonl
    python benchmarks/fused_same_rows.py --config configs/fused/v9p.json --store runs/features \\
        --train v5=configs/fused/default.json

With `--replay-real` / `--replay-fake` (the folders the patch model was trained on; section 23) their crops
join the pairs, which keep half of each class's draws, so the model learns the pairs without forgetting:

    python benchmarks/patch_pairs.py ... --out runs/patch-taef2-replay \\
        --replay-real ../shared/data/real/celeba/train ../shared/data/real/faces-hq \\
            ../shared/data/real/imagenet-sample ../shared/data/real/cbsd68 \\
            ../data/bundled/real_celeba32to128 ../data/bundled/real_celeba64to128 \\
        --replay-fake ../shared/data/fake/web-stylegan-faces ../shared/data/fake/diffusion/ldif \\
            ../shared/data/fake/diffusion/glid3 ../shared/data/fake/diffusion/stab ../data/bundled/gen_dcgan \\
            ../data/bundled/gen_progan ../data/bundled/gen_stylegan ../data/bundled/gen_glow \\
            ../data/bundled/gen_gmm ../data/bundled/gen_diffusion

Several `--pairs-config` recipes pool their pairs, each recipe through every decoder it names (`decoders`,
TAEF2 by default; section 26 adds three small autoencoders trained here):

    python data_sources/reconstruct.py --config configs/fused/pairs_decoders.json
    python benchmarks/patch_pairs.py --pairs-config configs/fused/pairs_seen.json configs/fused/pairs_decoders.json \
        --config configs/fused/default.json --store runs/features --out runs/patch-decoders --replay-real ... \
        --replay-fake ... --json reports/fused/patch_pairs_decoders.jsonl

Every phase resumes (framed parents, crops, training state, stored scores). Crops are drawn per file content
(`forensics.training.crops`), so a run under another --out or on another machine cuts the same crops.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "data_sources"))


def family_figures(scores: dict[str, float], fakes: dict[str, list[str]], reals: list[str],
                   unseen_reals: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Per fake family: AP against all listed real photos (each class weighing half), AP against the
    photos of never-trained sources (when listed), and the share at or above the reals' 99th percentile."""
    from sklearn.metrics import average_precision_score

    from forensics.metrics import balanced_weights

    real = np.array([scores[k] for k in reals if k in scores])
    negatives = {"ap": real}
    if unseen_reals is not None:
        negatives["ap_unseen_reals"] = np.array([scores[k] for k in unseen_reals if k in scores])
    cut = float(np.quantile(real, 0.99))
    out = {}
    for family, keys in sorted(fakes.items()):
        fake = np.array([scores[k] for k in keys if k in scores])
        if not len(fake):
            continue
        row = {"images": int(len(fake)), "flagged": round(float(np.mean(fake >= cut)), 3)}
        for tag, neg in negatives.items():
            y = np.r_[np.ones(len(fake)), np.zeros(len(neg))]
            row[tag] = round(float(average_precision_score(y, np.r_[fake, neg], sample_weight=balanced_weights(y))), 3)
        out[family] = row
    return out


def fine_tune(folders: dict[str, list[str]], source_weights: dict[str, float] | None, out: Path, init_from: str,
              steps: int, lr: float = 2e-4, device: str = "cpu") -> Path:
    """The patch model `init_from` fine-tuned on crop folders ({"real": [...], "fake": [...]}; `source_weights` as
    `TrainConfig` takes them) with this benchmark's schedule: 64 px crops, batch 32, cosine lr, the last epoch kept.
    Resumes from `out`'s training state."""
    from forensics.training.train import TrainConfig, train

    return train(TrainConfig(
        real=folders["real"], fake=folders["fake"], out=str(out), source_weights=source_weights,
        arch="resnet18_layer3_slim", input_filter="residual", val_fraction=0.05, epochs=max(1, steps // 250),
        steps_per_epoch=250, batch_size=32, size=64, val_size=128, val_per_source=10, augment="mild", lr=lr,
        lr_schedule="cosine", patience=1000, seed=0, device=device, workers=1, progress=False,
        model_id=out.name, init_from=init_from, selection="last", saturation_fraction=0.6, aggregation="topk:0.5"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs-config", type=Path, nargs="+", required=True,
                    help="the recipes reconstruct.py picked parents (and decoders) from")
    ap.add_argument("--derived", type=Path, default=REPO.parent / "data" / "derived", help="reconstruct.py's --out")
    ap.add_argument("--config", type=Path, required=True, help="the recipe whose images are scored")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="framed parents, crops and the model (its folder name "
                                                            "names its stored scores)")
    ap.add_argument("--init-from", default=str(REPO / "forensics" / "weights" / "patch"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--replay-real", type=Path, nargs="*", default=[], help="real folders to keep training on")
    ap.add_argument("--replay-fake", type=Path, nargs="*", default=[], help="fake folders to keep training on")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--train-only", action="store_true",
                    help="stop after training (e.g. while another process fills the store's patch scores)")
    args = ap.parse_args()

    import reconstruct
    from select_token_summaries import emit

    from forensics.data import list_images
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import image_key, patch_scores
    from forensics.training.crops import CropPlan, write_crops

    pairs = []
    for config in args.pairs_config:
        picked = list(reconstruct.parents(config))
        pairs += [(decoder, *parent) for decoder in reconstruct.decoders(config) for parent in picked]
    # each parent is framed once, however many decoders rebuilt it (its crops are named by content, so a
    # parent shared by two recipes is cut once too)
    framed: dict[Path, None] = {}
    fakes = []
    for decoder, name, family, f in pairs:
        real = args.out / "framed" / reconstruct.pair_name(name, family, f, "photo")
        if real not in framed and not real.exists():
            reconstruct.save_like_parent(reconstruct.framed(f), real, reconstruct.is_jpeg(f))
        framed[real] = None
        fakes.append(args.derived / "fake" / "ae-recon" / reconstruct.pair_name(name, family, f, decoder))
    reals = list(framed)
    absent = [str(p) for p in fakes if not p.exists()]
    if absent:
        raise SystemExit(f"error: {len(absent)} reconstructions absent (first {absent[0]}); run data_sources/reconstruct.py")
    plan = CropPlan()
    folders: dict[str, list[str]] = {}
    for label, files, replay in (("real", reals, args.replay_real), ("fake", fakes, args.replay_fake)):
        # the pairs are one source per class (crops/<label> alone, crops/<label>/pairs beside replayed
        # folders); each replayed folder another, its crops cut once
        pair_crops = args.out / "crops" / label / ("pairs" if replay else "")
        write_crops(files, pair_crops, plan)
        folders[label] = [str(pair_crops)]
        for folder in replay:
            write_crops(list_images(folder), args.out / "crops" / label / folder.name, plan)
            folders[label].append(str(args.out / "crops" / label / folder.name))
    # the pairs keep half of each class's draws however many folders are replayed
    weights = {f"{label}:{Path(f[0]).name}": float(len(f) - 1) for label, f in folders.items() if len(f) > 1}
    model = fine_tune(folders, weights or None, args.out, args.init_from, args.steps, args.lr, args.device)
    if args.train_only:
        print(f"trained: {model}", flush=True)
        return

    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    by_name = {s.name: s for s in sources}
    parent_keys = {image_key(by_name[n], f) for _dec, n, _fam, f in pairs if n in by_name}
    eval_only = set(cfg.get("eval_only_sources", []))
    keys = {s.name: [image_key(s, f) for f in s.files] for s in sources}
    fake_keys: dict[str, list[str]] = {}
    for s in sources:
        if s.label == 1:
            fake_keys.setdefault(s.family, []).extend(keys[s.name])
    # real photos the pair model did not train on: all but the parents; never-trained sources on their own
    reals_kept = [k for s in sources if s.label == 0 for k in keys[s.name] if k not in parent_keys]
    unseen_reals = [k for s in sources if s.label == 0 and s.name in eval_only for k in keys[s.name]]
    for name, path in (("patch v55", args.init_from), (f"patch {args.out.name}", str(model))):
        scored = patch_scores(sources, path, list(cfg["conditions"]), args.store, log=lambda _msg: None)
        for cond, scores in scored.items():
            fams = family_figures(scores, fake_keys, reals_kept, unseen_reals)
            emit({"model": name, "condition": cond, "worst_family": min(fams, key=lambda f: fams[f]["ap"]),
                  "worst_ap": min(r["ap"] for r in fams.values()),
                  "mean_ap": round(float(np.mean([r["ap"] for r in fams.values()])), 3),
                  "mean_flagged": round(float(np.mean([r["flagged"] for r in fams.values()])), 3),
                  "families": fams}, args.json)


if __name__ == "__main__":
    main()

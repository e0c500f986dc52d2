"""Quality and speed report for the shipped generators -> reports/generators/{NAME.png, README.md, quality.json}.

Metric: Frechet distance (FD) and kernel distance (KID x 1000) between 600 samples and the 600 held-back
real faces (real/celeba/val, centre square crop, 32 px), in the embedding of a small face-identity net
trained here (generators_featnet.py; no pretrained network can be downloaded), with FD in a fixed random
conv net's features as a cross-check. Reference rows: real faces unseen by the feature net (the floor),
blurred real faces, and trivially broken generators (noise, per-pixel Gaussian, mean face, one repeated
face) that every shipped generator must beat.

    python benchmarks/generators_quality.py [--families dcgan gmm ...] [--n 1000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "real" / "celeba"
REPORTS = ROOT / "reports" / "generators"
EVAL_RES = 32


def random_feature_net():
    """Fixed random conv net (seed 0); features = per-channel mean and std at four scales (960 dims)."""
    import torch
    from torch import nn
    g = torch.Generator().manual_seed(0)
    chans = [3, 32, 64, 128, 256]
    convs = []
    for a, b in zip(chans[:-1], chans[1:]):
        conv = nn.Conv2d(a, b, 3, stride=2, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2 / (a * 9)) ** 0.5)
            conv.bias.zero_()
        convs.append(conv)

    @torch.no_grad()
    def features(images: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(images), 256):
            x = torch.from_numpy(images[i:i + 256]).permute(0, 3, 1, 2).float() / 127.5 - 1
            feats = []
            for conv in convs:
                x = torch.relu(conv(x))
                feats += [x.mean([2, 3]), x.std([2, 3])]
            out.append(torch.cat(feats, 1).double().numpy())
        return np.concatenate(out)

    return features


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    import warnings
    from scipy import linalg
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # singular for the "one repeated face" reference
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018), features standardised."""
    d = a.shape[1]
    k = lambda x, y: (x @ y.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
    m, n = len(a), len(b)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def to_eval_res(images: np.ndarray) -> np.ndarray:
    from PIL import Image
    if images.shape[1] == EVAL_RES:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((EVAL_RES, EVAL_RES), Image.LANCZOS)) for im in images])


BROKEN = "broken"


def reference_sets(train: np.ndarray, ref_mask: np.ndarray, n: int, rng: np.random.Generator) -> dict:
    """Real-vs-real floor, a degraded-real row and trivially broken 'generators' that must not pass."""
    import cv2
    real = train[ref_mask][rng.choice(int(ref_mask.sum()), n, replace=False)]
    mean, std = train.mean(0), train.std(0)
    return {
        "real faces (train, unseen by the feature net)": ("reference", real),
        "real faces, Gaussian blur sigma 1": ("reference", np.stack([cv2.GaussianBlur(im, (0, 0), 1.0)
                                                                     for im in real])),
        "Gaussian noise": (BROKEN, np.clip(rng.normal(127, 60, real.shape), 0, 255).astype(np.uint8)),
        "per-pixel Gaussian (mean, std of each pixel)": (BROKEN, np.clip(
            rng.normal(mean, std, real.shape), 0, 255).round().astype(np.uint8)),
        "mean face, repeated": (BROKEN, np.repeat(mean.round().astype(np.uint8)[None], n, 0)),
        "one real face, repeated": (BROKEN, np.repeat(real[:1], n, 0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="*", default=None)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import generators
    import generators_featnet as featnet
    from generators_train import plot_history
    from generators._common import image_grid, load_images
    from PIL import Image

    spaces = {"id": featnet.feature_fn(), "rand": random_feature_net()}
    val = load_images(DATA / "val", EVAL_RES)
    train = load_images(DATA / "train", EVAL_RES)
    _, labels = featnet.identities(DATA / "train")
    ref_mask = ~featnet.split_train(labels)
    stats = {}
    for key, feats in spaces.items():
        fv = feats(val)
        mu, sd = fv.mean(0), fv.std(0) + 1e-6  # standardise every feature by the real-val statistics
        stats[key] = (feats, mu, sd, (fv - mu) / sd)
    rows: list[dict] = []

    def score(name: str, kind: str, images: np.ndarray, **extra) -> None:
        row = {"name": name, "kind": kind, **extra}
        for key, (feats, mu, sd, fv) in stats.items():
            f = (feats(to_eval_res(images)) - mu) / sd
            row[f"fd_{key}"], row[f"kid_{key}"] = frechet(f, fv), 1000 * kid(f, fv)
        rows.append(row)
        print(f"{name}: FD {row['fd_id']:.2f}  KID*1000 {row['kid_id']:.2f}  (random-net FD {row['fd_rand']:.1f})",
              flush=True)

    for name, (kind, images) in reference_sets(train, ref_mask, args.n, np.random.default_rng(0)).items():
        score(name, kind, images)

    for name in args.families or generators.list_generators():
        d = generators.default_weights_dir(name)
        if not (d / "model.safetensors").is_file():
            print(f"{name}: no weights, skipped", flush=True)
            continue
        gen = generators.load_generator(d)
        meta = json.loads((d / "config.json").read_text())
        speed_n = 16 if name == "diffusion" else 64
        gen.sample(2, seed=321, device="cpu")  # warm-up
        t = time.time()
        gen.sample(speed_n, seed=123, device="cpu")
        sps = speed_n / (time.time() - t)
        samples = gen.sample(args.n, seed=0, device="cpu")
        Image.fromarray(image_grid(samples[:64], scale=max(1, 64 // gen.resolution))).save(REPORTS / f"{name}.png")
        history = REPORTS / f"{name}_history.json"
        if history.is_file():  # redraw the loss curve from the training log (same style for every family)
            plot_history(name, json.loads(history.read_text())["history"], REPORTS / f"{name}_loss.png")
        tr = meta.get("training", {})
        score(name, "generator", samples, resolution=gen.resolution,
              steps=tr.get("total_steps", tr.get("steps")), train_s=tr.get("total_seconds", tr.get("seconds")),
              mb=(d / "model.safetensors").stat().st_size / 1e6, sps=sps)
    write_report(rows, args, featnet.load()[1])


def verdicts(rows: list[dict]) -> None:
    """A generator passes when it beats every broken reference on both FD and KID (identity-net space)."""
    broken = [r for r in rows if r["kind"] == BROKEN]
    for r in rows:
        if r["kind"] == "generator" and broken:
            r["pass"] = bool(r["fd_id"] < min(b["fd_id"] for b in broken)
                             and r["kid_id"] < min(b["kid_id"] for b in broken))


def write_report(rows: list[dict], args, featnet_summary: dict) -> None:
    old = REPORTS / "quality.json"
    keep = {r["name"]: r for r in (json.loads(old.read_text()) if old.is_file() else []) if "fd_id" in r}
    keep.update({r["name"]: r for r in rows})
    order = {"reference": 0, BROKEN: 1, "generator": 2}
    rows = sorted(keep.values(), key=lambda r: (order[r["kind"]], r["name"] if r["kind"] == "generator" else 0))
    verdicts(rows)
    old.write_text(json.dumps(rows, indent=1))
    acc = featnet_summary.get("val_identity_accuracy", float("nan"))
    lines = [
        "# Bundled generators: samples, speed and a sanity metric",
        "",
        "Made by `python benchmarks/generators_quality.py` (weights trained by `benchmarks/generators_train.py`",
        "on `real/celeba/train`, 4,800 faces, centre square crop, Lanczos resize). Sampling speed is measured",
        "on this development machine's CPU with **one** torch thread. Training ran on the same 2-core VM,",
        "shared with other jobs (often three trainings at once), so the wall-clock training times are rough",
        "and pessimistic; *train time* and *steps* are totals over all training segments of a family (a run",
        "continued with `generators_train.py --init` adds a segment; GMM steps are EM iterations). No GPU was",
        "lent to this task, so there is no GPU column; the same code runs with `--device cuda`.",
        "",
        f"**Metric.** Frechet distance (FD) and kernel distance (KID x 1000) between {args.n} samples and the",
        "600 held-back real faces of `real/celeba/val`, all at 32 px, in the 256-d embedding of a small",
        "face-identity CNN trained here (`benchmarks/generators_featnet.py`: 200 CelebA identities, trained on",
        f"half of each identity's training images; identity accuracy on celeba/val {acc:.1%}, chance 0.5%).",
        "Features are standardised by the val statistics. The last column repeats FD in the feature space of",
        "a fixed random-init conv net as a cross-check. No pretrained Inception can be downloaded here, so the",
        "values are not comparable with published FIDs: compare rows with the reference rows. Lower is better.",
        "**Sanity check:** a generator passes when it beats every *broken* reference on both FD and KID.",
        "",
        "| row | res | steps | train time | weights | samples/s (CPU, 1 thread) | FD | KID x1000 | pass "
        "| FD (random net) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["kind"] != "generator":
            label = "reference" if r["kind"] == "reference" else "broken"
            lines.append(f"| *{label}: {r['name']}* | 32 | | | | | {r['fd_id']:.1f} | {r['kid_id']:.1f} | | "
                         f"{r['fd_rand']:.1f} |")
        else:
            t = f"{r['train_s'] / 60:.1f} min" if r.get("train_s") else "?"
            ok = "yes" if r.get("pass") else "**no**"
            lines.append(f"| **{r['name']}** | {r['resolution']} | {r['steps']} | {t} | {r['mb']:.2f} MB | "
                         f"{r['sps']:.1f} | {r['fd_id']:.1f} | {r['kid_id']:.1f} | {ok} | {r['fd_rand']:.1f} |")
    import generators
    total = sum(p.stat().st_size for p in generators.WEIGHTS_ROOT.rglob("*") if p.is_file()) / 1e6
    lines += ["", f"Shipped weights (`generators/weights/`, fp16 safetensors + JSON config), all families "
              f"together: {total:.1f} MB (budget 25 MB).", "",
              "Sample grids (first 64 samples of seed 0, nearest-neighbour upscaled to 64 px per image)",
              "and training loss curves:", ""]
    for r in rows:
        if r["kind"] == "generator":
            n = r["name"]
            lines.append(f"- `{n}`: ![{n} samples]({n}.png) ![{n} loss]({n}_loss.png)")
    (REPORTS / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

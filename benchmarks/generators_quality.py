"""Quality and speed report for the shipped generators -> reports/generators/{NAME.png, README.md}.

Metric: Frechet distance (FD) and kernel distance (KID x 1000) between 600 samples and the 600 held-back
real faces (real/celeba/val, centre square crop, 32 px), in the feature space of a fixed, randomly
initialised conv net (seed 0; no pretrained network can be downloaded here). Reference rows: real train
faces vs val (the floor), blurred real faces, Gaussian noise and one repeated real face (broken generators).

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


def feature_net():
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="*", default=None)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    import generators
    from generators._common import image_grid, load_images
    from PIL import Image

    feats = feature_net()
    val = load_images(DATA / "val", EVAL_RES)
    train = load_images(DATA / "train", EVAL_RES)
    fv = feats(val)
    mu, sd = fv.mean(0), fv.std(0) + 1e-6  # standardise every feature by the real-val statistics
    norm = lambda f: (f - mu) / sd  # noqa: E731
    fv = norm(fv)
    rng = np.random.default_rng(0)
    rows: list[dict] = []

    def score(name: str, images: np.ndarray, **extra) -> None:
        f = norm(feats(to_eval_res(images)))
        rows.append({"name": name, "fd": frechet(f, fv), "kid": 1000 * kid(f, fv), **extra})
        print(f"{name}: FD {rows[-1]['fd']:.2f}  KID*1000 {rows[-1]['kid']:.2f}", flush=True)

    real = train[rng.choice(len(train), args.n, replace=False)]
    score("reference: real train vs val", real, kind="reference")
    import cv2
    score("reference: real, Gaussian blur sigma 1", np.stack([cv2.GaussianBlur(im, (0, 0), 1.0) for im in real]),
          kind="reference")
    score("reference: Gaussian noise", np.clip(rng.normal(127, 60, real.shape), 0, 255).astype(np.uint8),
          kind="reference")
    score("reference: one repeated real face", np.repeat(real[:1], args.n, 0), kind="reference")

    for name in args.families or generators.list_generators():
        d = generators.default_weights_dir(name)
        if not (d / "model.safetensors").is_file():
            print(f"{name}: no weights, skipped", flush=True)
            continue
        gen = generators.load_generator(d)
        meta = json.loads((d / "config.json").read_text())
        t = time.time()
        speed_n = 16 if name == "diffusion" else 64
        gen.sample(speed_n, seed=123, device="cpu")
        sps = speed_n / (time.time() - t)
        samples = gen.sample(args.n, seed=0, device="cpu")
        Image.fromarray(image_grid(samples[:64], scale=max(1, 64 // gen.resolution))).save(REPORTS / f"{name}.png")
        tr = meta.get("training", {})
        score(name, samples, kind="generator", resolution=gen.resolution, steps=tr.get("steps"),
              train_s=tr.get("seconds"), mb=(d / "model.safetensors").stat().st_size / 1e6, sps=sps)
    write_report(rows, args)


def write_report(rows: list[dict], args) -> None:
    old = REPORTS / "quality.json"
    keep = {r["name"]: r for r in (json.loads(old.read_text()) if old.is_file() else [])}
    keep.update({r["name"]: r for r in rows})
    rows = sorted(keep.values(), key=lambda r: (r["kind"] != "reference", r["name"]))
    old.write_text(json.dumps(rows, indent=1))
    lines = [
        "# Bundled generators: samples, speed and a sanity metric",
        "",
        "Made by `python benchmarks/generators_quality.py` (weights trained by `benchmarks/generators_train.py`",
        "on `real/celeba/train`, 4,800 faces, centre square crop, Lanczos resize). All timings on this",
        "development machine's CPU with **one** torch thread (2-core VM, shared with other work, so timings are",
        "rough); no GPU was lent to this task, so there is no GPU column.",
        "",
        f"Metric: Frechet distance (FD) and kernel distance (KID x 1000) between {args.n} samples and the 600",
        "held-back real faces of `real/celeba/val`, all at 32 px, in the feature space of a fixed random-init",
        "conv net (4 stride-2 convs, seed 0; per-channel mean+std at each scale, standardised by the val",
        "statistics). No pretrained Inception can be downloaded here, so absolute values are not comparable",
        "with published FIDs; compare rows against the reference rows. Lower is better.",
        "",
        "| generator | res | steps | train time | weights | samples/s (CPU, 1 thread) | FD | KID x1000 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["kind"] == "reference":
            lines.append(f"| *{r['name']}* | 32 | | | | | {r['fd']:.1f} | {r['kid']:.2f} |")
        else:
            t = f"{r['train_s'] / 60:.1f} min" if r.get("train_s") else "?"
            lines.append(f"| **{r['name']}** | {r['resolution']} | {r['steps']} | {t} | {r['mb']:.2f} MB | "
                         f"{r['sps']:.1f} | {r['fd']:.1f} | {r['kid']:.2f} |")
    lines += ["", "Sample grids (first 64 samples of seed 0, upscaled with nearest neighbour to 64 px per image)",
              "and training loss curves:", ""]
    for r in rows:
        if r["kind"] == "generator":
            n = r["name"]
            lines.append(f"- `{n}`: ![{n} samples]({n}.png) ![{n} loss]({n}_loss.png)")
    (REPORTS / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

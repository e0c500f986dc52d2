"""Images/s of the fused default, of the patch model alone and of a full ResNet-50, measured in one run.

    python benchmarks/fused_speed.py --json reports/fused_speed.json [--device cpu] [--n 24]

Every detector scans the same decoded images (photos from scikit-image, resized to 256 and 1024 px)
through `Detector.scan_many` (decoding excluded); the ResNet-50 (timm, full network, random weights:
speed does not depend on them) runs a plain forward pass on the same pixels. Figures are ratios taken in
one run on one machine; absolute images/s vary with the machine and its load.
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


def test_images(size: int, n: int) -> list[np.ndarray]:
    import skimage.data as sd
    from PIL import Image

    base = [sd.astronaut(), sd.chelsea(), sd.coffee(), sd.rocket()]
    out = []
    for i in range(n):
        im = Image.fromarray(base[i % len(base)]).resize((size, size), Image.BICUBIC)
        out.append(np.asarray(im))
    return out


def rate(fn, images: list[np.ndarray], repeats: int = 2) -> float:
    fn(images[:2])  # warm-up
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(images)
        best = max(best, len(images) / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import timm
    import torch

    from forensics.detector import Detector

    fused = Detector.load("fused", device=args.device)
    patch = Detector.load("patch", device=args.device)
    if fused.branch is None:
        raise SystemExit(f"error: the fused default has no pretrained branch here ({fused.branch_note})")
    dev = torch.device(args.device)
    resnet = timm.create_model("resnet50", pretrained=False).eval().to(dev)

    def run_det(det):
        return lambda ims: list(det.scan_many(ims, batch_size=8, provenance=False))

    @torch.inference_mode()
    def run_resnet(ims):
        for i in range(0, len(ims), 8):
            x = torch.from_numpy(np.stack(ims[i:i + 8])).permute(0, 3, 1, 2).float().div(255).to(dev)
            resnet(x)

    rows = []
    for size in (256, 1024):
        images = test_images(size, args.n if size == 256 else max(4, args.n // 4))
        r = {"size": size, "fused": rate(run_det(fused), images), "patch": rate(run_det(patch), images),
             "resnet50": rate(run_resnet, images)}
        r["patch_over_resnet50"] = r["patch"] / r["resnet50"]
        r["fused_over_resnet50"] = r["fused"] / r["resnet50"]
        rows.append(r)
        print(json.dumps(r), flush=True)
    device = torch.cuda.get_device_name() if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    md = ["| image size | fused default | patch model alone | full ResNet-50 | patch / ResNet-50 | fused / ResNet-50 |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['size']} px | {r['fused']:.2f} img/s | {r['patch']:.2f} img/s | {r['resnet50']:.2f} img/s | "
                  f"{r['patch_over_resnet50']:.1f}x | {r['fused_over_resnet50']:.2f}x |")
    md.append("")
    md.append(f"Measured on {device} in one run (`benchmarks/fused_speed.py`). The fused default runs the CLIP "
              "encoder on one 224 px view whatever the image size; with the float32 graph a batch runs at once (the INT8 "
              "graph runs one image at a time: it quantises activations per input tensor).")
    out = {"device": device, "rows": rows, "markdown": "\n".join(md)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()

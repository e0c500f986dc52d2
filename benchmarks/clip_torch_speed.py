"""Images/s of CLIP's tower cut after block 6: ONNX Runtime (float32 graph) against the PyTorch port
(`forensics.pretrained.clip_torch`), forward only, and the port's forward + backward with blocks 4-6
trainable (0-3 frozen): what fine-tuning CLIP on patches would cost on this machine. One run, ratios
measured side by side.

    python benchmarks/clip_torch_speed.py --json reports/clip_torch_speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rate(step, n_images: int, repeats: int) -> float:
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    return n_images * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    from forensics.pretrained.clip_encoder import ClipEncoder, normalise
    from forensics.pretrained.clip_torch import ClipVisionTower

    views = np.random.default_rng(0).integers(0, 256, (args.batch, 224, 224, 3), dtype=np.uint8)
    encoder = ClipEncoder((4, 5, 6), precision="float32")
    tower = ClipVisionTower.from_graph(encoder.graph).to(args.device)
    x = torch.from_numpy(normalise(views)).to(args.device)

    def onnx_forward() -> None:
        encoder.hidden_states(views)

    def torch_forward() -> None:
        with torch.inference_mode():
            tower(x, (4, 5, 6))

    for i, block in enumerate(tower.blocks):
        block.requires_grad_(i >= 4)
    opt = torch.optim.AdamW([p for p in tower.parameters() if p.requires_grad], lr=1e-5)

    def torch_train_step() -> None:
        opt.zero_grad()
        out = tower(x, (4, 5, 6))
        loss = sum(out[b][:, 1:].mean(dim=1).square().mean() for b in (4, 5, 6))
        loss.backward()
        opt.step()

    rows = {"onnxruntime_forward": rate(onnx_forward, args.batch, args.repeats) if args.device == "cpu" else None,
            "torch_forward": rate(torch_forward, args.batch, args.repeats),
            "torch_train_blocks_4_6": rate(torch_train_step, args.batch, args.repeats)}
    rec = {"device": f"{args.device}, {torch.get_num_threads()} threads, {os.cpu_count()} cores", "batch": args.batch,
           "images_per_s": {k: (round(v, 2) if v else None) for k, v in rows.items()}}
    if rows["onnxruntime_forward"]:
        rec["torch_forward_over_onnxruntime"] = round(rows["torch_forward"] / rows["onnxruntime_forward"], 2)
    print(json.dumps(rec, indent=2))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""A small face-identity network trained here: its embedding is the feature space of the generator metric.

No pretrained Inception can be downloaded, so `generators_quality.py` measures Frechet/kernel distances in
the 256-d embedding of this net, trained (seed 0, one thread, a few minutes) to tell apart the 200 CelebA
identities of `real/celeba/train` at 32 px. It is trained on half of each identity's training images
(`split_train`); the other half and `real/celeba/val` are never seen by it, so the real-vs-real
reference row compares two sets the network has not seen. Training is deterministic (seed 0, one
thread); the weights are cached outside the repository (safetensors + JSON, ~2 MB) and the summary
(identity accuracy on celeba/val) is written to reports/generators/feature_net.json.

    python benchmarks/generators_featnet.py   # (re)train and print identity accuracy on celeba/val
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "real" / "celeba"
CACHE = Path(os.environ.get("GENERATORS_FEATNET_CACHE", Path.home() / ".cache" / "forensics" / "generators_featnet"))
SUMMARY = ROOT / "reports" / "generators" / "feature_net.json"
RES = 32


def identities(folder: Path) -> tuple[list[Path], np.ndarray]:
    """Sorted image files and integer identity labels (file name `celeb_ID_xxx.jpg`)."""
    from generators._common import list_images
    files = list_images(folder)
    ids = sorted({f.name.split("_")[1] for f in files}, key=int)
    index = {k: i for i, k in enumerate(ids)}
    return files, np.array([index[f.name.split("_")[1]] for f in files])


def split_train(labels: np.ndarray) -> np.ndarray:
    """Boolean mask: True for the half of each identity's images used to fit the network."""
    mask = np.zeros(len(labels), bool)
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        mask[idx[::2]] = True
    return mask


def build():
    from torch import nn

    def block(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU())

    class Net(nn.Module):
        def __init__(self, classes: int = 200) -> None:
            super().__init__()
            self.body = nn.Sequential(block(3, 32), nn.MaxPool2d(2), block(32, 64), nn.MaxPool2d(2),
                                      block(64, 128), nn.MaxPool2d(2), block(128, 256),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(256, classes))

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x))

    return Net()


def _to_tensor(images: np.ndarray):
    import torch
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def train(epochs: int = 20, seed: int = 0) -> dict:
    """Train on the 'fit' half of celeba/train; save to CACHE; return a summary."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from generators._common import load_images

    torch.manual_seed(seed)
    files, labels = identities(DATA / "train")
    mask = split_train(labels)
    x = _to_tensor(load_images(DATA / "train", RES))[torch.from_numpy(mask)]
    y = torch.from_numpy(labels[mask])
    vfiles, vlabels = identities(DATA / "val")
    vx, vy = _to_tensor(load_images(DATA / "val", RES)), torch.from_numpy(vlabels)
    net = build()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    steps = epochs * (len(x) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    t0, step = time.time(), 0
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - 63, 64):
            xb, yb = x[perm[i:i + 64]], y[perm[i:i + 64]]
            xb = torch.where(torch.rand(len(xb), 1, 1, 1) < 0.5, xb.flip(3), xb)
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            xb = torch.roll(xb, (dy, dx), (2, 3))
            loss = F.cross_entropy(net(xb), yb, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        print(f"featnet epoch {epoch + 1}/{epochs} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    net.eval()
    with torch.no_grad():
        acc = float((net(vx).argmax(1) == vy).float().mean())
    summary = {"val_identity_accuracy": round(acc, 4), "chance": 1 / 200, "epochs": epochs, "seed": seed,
               "train_images": int(mask.sum()), "seconds": round(time.time() - t0, 1), "resolution": RES,
               "embedding_dim": 256}
    CACHE.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(CACHE / "model.safetensors"))
    (CACHE / "config.json").write_text(json.dumps(summary, indent=2) + "\n")
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def load():
    """The cached network (training it first when absent) and its summary."""
    from safetensors.torch import load_file
    if not (CACHE / "model.safetensors").is_file():
        train()
    net = build()
    net.load_state_dict(load_file(str(CACHE / "model.safetensors")))
    return net.eval(), json.loads((CACHE / "config.json").read_text())


def feature_fn():
    """images (uint8 NHWC, 32 px) -> float64 embeddings (N, 256)."""
    import torch
    net, _ = load()

    @torch.no_grad()
    def features(images: np.ndarray) -> np.ndarray:
        return np.concatenate([net.embed(_to_tensor(images[i:i + 256])).double().numpy()
                               for i in range(0, len(images), 256)])

    return features


if __name__ == "__main__":
    import torch
    torch.set_num_threads(1)
    print(json.dumps(train(), indent=1))

"""DistributedDataParallel training launched with torchrun: 2 local CPU processes (gloo)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


@pytest.fixture()
def tiny_folders(tmp_path, photos):
    rng = np.random.default_rng(1)
    for label in ("real", "fake"):
        (tmp_path / label).mkdir()
    rgbs = list(photos.values())
    for k in range(16):
        rgb = rgbs[k % len(rgbs)]
        y, x = rng.integers(0, rgb.shape[0] - 48), rng.integers(0, rgb.shape[1] - 48)
        crop = rgb[y:y + 48, x:x + 48]
        Image.fromarray(crop).save(tmp_path / "real" / f"{k}.png")
        Image.fromarray(np.clip(crop.astype(int) + rng.integers(-30, 30, crop.shape), 0, 255).astype(np.uint8)
                        ).save(tmp_path / "fake" / f"{k}.png")
    return tmp_path


def test_torchrun_two_cpu_processes(tiny_folders, tmp_path):
    out = tmp_path / "ddp_run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "forensics", "train", "--real", str(tiny_folders / "real"), "--fake", str(tiny_folders / "fake"),
           "--out", str(out), "--arch", "resnet18_layer1", "--epochs", "2", "--steps-per-epoch", "3",
           "--batch-size", "8", "--size", "32", "--workers", "0", "--device", "cpu", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    hist = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1]
    assert json.loads((out / "config.json").read_text())["arch"] == "resnet18_layer1"

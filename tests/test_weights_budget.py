"""The weights kept in git (the shipped detectors, the bundled generators, the training runs the shipped
recipes start from) stay under 40 MiB in all, so a clone stays light."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUDGET = 40 * 1024 * 1024
WEIGHT_PATTERNS = ("*.safetensors", "*.onnx", "*.pt", "*.pth", "*.ckpt")


def tracked_weights() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--", *WEIGHT_PATTERNS], cwd=REPO, capture_output=True, check=True)
    return [REPO / p for p in out.stdout.decode().split("\0") if p]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_tracked_weights_stay_under_the_budget():
    files = [f for f in tracked_weights() if f.exists()]
    assert any(f.parent.name == "patch" for f in files)  # the listing sees the shipped weights
    total = sum(f.stat().st_size for f in files)
    biggest = sorted(files, key=lambda f: -f.stat().st_size)[:3]
    assert total < BUDGET, f"{total / 2**20:.1f} MiB of weights in git; biggest: {[str(f.relative_to(REPO)) for f in biggest]}"

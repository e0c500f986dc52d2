"""Helpers for audit tests: tiny image folders made on the fly, the CLI command line."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def make_images(folder: Path, n: int, *, size: int = 32, seed: int = 0, prefix: str = "img",
                ext: str = ".png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"{prefix}{i:04d}{ext}"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def audit_cli() -> list[str]:
    """The `forensics audit` command line, run with this interpreter."""
    return [sys.executable, "-m", "forensics", "audit"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every audit test runs with one torch thread (tests/conftest.py)."""


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """12 good PNG/JPEG images in two levels plus bad files and a non-image."""
    root = tmp_path / "data"
    make_images(root, 8, seed=1)
    make_images(root / "sub", 4, size=40, seed=2, prefix="j", ext=".jpg")
    (root / "bad.png").write_bytes(b"<html>not an image</html>")
    (root / "empty.jpg").write_bytes(b"")
    (root / "truncated.png").write_bytes((root / "img0000.png").read_bytes()[:60])
    (root / "readme.txt").write_text("not audited")
    return root


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory):
    """ONNX exports of the audit backend go to a per-session folder (also for subprocesses); the CLIP
    encoder file of the fused default stays where it was found (named through its variable)."""
    from forensics.pretrained import clip_file

    saved = {k: os.environ.get(k) for k in ("FORENSICS_CACHE", clip_file.ENV_VAR)}
    present, where = clip_file.status()
    if present:
        os.environ[clip_file.ENV_VAR] = where
    os.environ["FORENSICS_CACHE"] = str(tmp_path_factory.mktemp("forensics-cache"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def forkserver(_onnx_cache):
    """Pre-imported CLI that forks real audit processes cheaply (see forkserver.py)."""
    from tests.forensics.audit.forkserver import ForkServer

    srv = ForkServer()
    yield srv
    srv.close()

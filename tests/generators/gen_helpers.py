"""Tiny configs and synthetic data so every generator test runs in seconds on a CPU."""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

TINY = {
    "dcgan": dict(resolution=8, latent_dim=8, g_width=8, d_width=8, batch_size=8),
    "progan": dict(resolution=8, start_resolution=4, latent_dim=8, widths=(8, 8), batch_size=8),
    "stylegan": dict(resolution=8, latent_dim=8, w_dim=8, mapping_layers=2, widths=(8, 8), batch_size=8),
    "glow": dict(resolution=8, levels=2, depth=2, hidden=8, batch_size=8, warmup=1),
    "gmm": dict(resolution=8, components=2, latent_dim=2, kmeans_iters=2),
    "diffusion": dict(resolution=8, channels=8, mults=(1, 2), attn_res=(4,), timesteps=50, sample_steps=4,
                      batch_size=8),
}
FAMILIES = sorted(TINY)


def synthetic_images(n: int = 24, size: int = 8, seed: int = 0) -> np.ndarray:
    """Smooth random colour blobs, uint8 NHWC."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.35)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2)[..., None]
        fg, bg = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        out[i] = np.clip(bg * (1 - blob) + fg * blob, 0, 255).astype(np.uint8)
    return out

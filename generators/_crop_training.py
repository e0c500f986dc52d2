"""What the small image-to-image networks (the latent autoencoder, the denoiser) share: training on random
crops of real photos at native resolution, and saving as safetensors + JSON (nothing is unpickled)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ._common import progress_bar, resolve_device


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def random_crops(images: Sequence[np.ndarray], n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """`n` random `size`-px crops (each flipped left-right with probability 1/2), (n, 3, size, size) in [-1, 1]."""
    crops = []
    for i in rng.integers(0, len(images), n):
        img = images[i]
        y = rng.integers(0, img.shape[0] - size + 1)
        x = rng.integers(0, img.shape[1] - size + 1)
        crop = img[y:y + size, x:x + size]
        crops.append(to_tensor(crop[:, ::-1] if rng.random() < 0.5 else crop))
    return torch.stack(crops)


def load_rgb(path: Path, min_side: int) -> np.ndarray | None:
    """The image at `path` as uint8 RGB, or None when its shorter side is under `min_side`."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return rgb if min(rgb.shape[:2]) >= min_side else None


def fit_on_crops(build: Callable[[], nn.Module], loss_of: Callable[[nn.Module, torch.Tensor], torch.Tensor],
                 paths: Sequence[Path], *, steps: int, batch: int, crop: int, lr: float, seed: int, device: str,
                 progress: bool, label: str) -> nn.Module:
    """Build a model (after seeding torch with `seed`) and train it with Adam and a cosine schedule for `steps`
    steps of `batch` random `crop`-px crops of the images at `paths`; `loss_of(model, crops)` is the loss."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = [im for im in (load_rgb(p, crop) for p in paths) if im is not None]
    if not images:
        raise ValueError(f"no image of at least {crop} px among {len(paths)} files")
    model = build().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    with progress_bar(steps, label, enabled=progress) as advance:
        for _ in range(steps):
            loss = loss_of(model, random_crops(images, batch, crop, rng).to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            advance(loss=loss.item())
    return model.eval()


def save_small_model(model: nn.Module, directory: str | Path, family: str, config: dict[str, Any]) -> Path:
    """Write `model.safetensors` and `config.json` ({"family": family, **config}) to `directory`."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps({"family": family, **config}, indent=2) + "\n")
    return d


def read_small_model(directory: str | Path, family: str, what: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config, state dict) of what `save_small_model` wrote for `family`; a ValueError naming the file and
    `what` was expected when the folder holds another kind of model."""
    from safetensors.torch import load_file

    d = Path(directory)
    raw = json.loads((d / "config.json").read_text())
    if raw.get("family") != family:
        raise ValueError(f"{d / 'config.json'}: not a {what} (family {raw.get('family')!r})")
    return raw, load_file(str(d / "model.safetensors"))

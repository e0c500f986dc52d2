"""`forensics generate`: sample a fake dataset from a bundled generator (optionally training it first)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _trained_here(name: str, wdir: Path) -> bool:
    """True when `wdir` holds a finished model of family `name` written by an earlier `--train-on` run."""
    cfg = wdir / "config.json"
    if not cfg.is_file() or not (wdir / "model.safetensors").is_file():
        return False
    meta = json.loads(cfg.read_text())
    return meta.get("family") == name and bool(meta.get("training", {}).get("finished", True))


def _train(name: str, weights: str, train_on: Path, steps: Optional[int], out: Path, device: str,
           progress: bool, quiet: bool):
    """Train (or fine-tune `--weights`) on `train_on`; weights go to OUT/weights, reused when rerun."""
    import generators

    wdir = out / "weights"
    if _trained_here(name, wdir):
        if not quiet:
            typer.echo(f"reusing weights trained by an earlier run: {wdir}", err=True)
        return generators.get_generator_class(name).load(wdir)
    if not train_on.is_dir():
        _fail(f"training folder not found: {train_on}")
    gen = (generators.create_generator(name) if weights == "default"
           else generators.get_generator_class(name).load(weights))
    if not quiet:
        typer.echo(f"training {name} on {train_on} ...", err=True)
    gen.fit(train_on, steps=steps, device=device, progress=progress, checkpoint_dir=wdir)
    gen.save(wdir)
    if not quiet:
        typer.echo(f"saved trained weights to {wdir}", err=True)
    return gen


def generate(
    name: str = typer.Argument(..., help="Generator family: dcgan, progan, stylegan, glow, gmm or diffusion."),
    n: int = typer.Option(..., "-n", "--n", min=1, help="Number of images to write."),
    out: Path = typer.Option(..., "--out", help="Output folder (PNGs + manifest.jsonl); rerunning resumes."),
    weights: str = typer.Option("default", "--weights", help="Weights folder, or 'default' for the shipped ones."),
    train_on: Optional[Path] = typer.Option(None, "--train-on", help="Train on this image folder first."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Training steps (with --train-on)."),
    seed: int = typer.Option(0, "--seed", help="Run seed; image i uses a seed derived from (seed, i)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output on stderr."),
) -> None:
    """Write N generated images plus manifest.jsonl to OUT; prints OUT on stdout.

    Rerunning into the same folder only fills in missing images (finished files are never rewritten);
    with --train-on, the weights trained by the first run (OUT/weights) are reused.
    """
    import generators
    from generators._common import resolve_device

    progress = not quiet and sys.stderr.isatty()
    try:
        generators.get_generator_class(name)
        resolve_device(device)
        if steps is not None and train_on is None:
            _fail("--steps needs --train-on DIR")
        if train_on is not None:
            gen = _train(name, weights, train_on, steps, out, device, progress, quiet)
        else:
            wdir = generators.default_weights_dir(name) if weights == "default" else Path(weights)
            gen = generators.get_generator_class(name).load(wdir)
        generators.write_fake_dataset(gen, n, out, seed=seed, progress=progress, device=device)
    except typer.Exit:
        raise
    except (KeyError, FileNotFoundError, ValueError, TypeError) as exc:
        _fail(str(exc))
    if not quiet:
        typer.echo(f"{out} holds {n} {name} images ({gen.resolution}px, weights {gen.weights_id()}, seed {seed})",
                   err=True)
    typer.echo(str(out))

"""`forensics train`, `forensics eval`, `forensics calibrate`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import fail, load_detector, parse_weighted


def train(
    real: Optional[List[Path]] = typer.Option(None, "--real", help="Folder(s) of real images."),
    fake: Optional[List[Path]] = typer.Option(None, "--fake", help="Folder(s) of fake images."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (rerun to resume)."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON training recipe; flags override it."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Architecture name (see `forensics models`)."),
    input_filter: Optional[str] = typer.Option(None, "--input-filter", help="none or residual."),
    val_real: Optional[List[Path]] = typer.Option(None, "--val-real"),
    val_fake: Optional[List[Path]] = typer.Option(None, "--val-fake"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    steps_per_epoch: Optional[int] = typer.Option(None, "--steps-per-epoch"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    size: Optional[int] = typer.Option(None, "--size", help="Training crop size (native resolution crops)."),
    augment: Optional[str] = typer.Option(None, "--augment", help="none, flip, mild, medium or robust."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    patience: Optional[int] = typer.Option(None, "--patience"),
    workers: Optional[int] = typer.Option(None, "--workers"),
    device: Optional[str] = typer.Option(None, "--device"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    init_from: Optional[Path] = typer.Option(
        None, "--init-from", help="Detector/run directory: copy its tensors that match by name and shape."),
    selection: Optional[str] = typer.Option(
        None, "--selection", help="Best-epoch criterion: pooled_ap, mean_source_ap, or last (keep the last epoch)."),
    lr_schedule: Optional[str] = typer.Option(
        None, "--lr-schedule", help="constant, or cosine (anneal --lr to 0 over all epochs)."),
    source_weight: Optional[List[str]] = typer.Option(
        None, "--source-weight",
        help="NAME=W: draw training source NAME (as named in the run config, e.g. fake:ldif) W times as often "
             "as the others of its class (repeatable)."),
    small_fraction: Optional[float] = typer.Option(
        None, "--small-fraction",
        help="Share of batches cropped at 32-56 px (half whole-image thumbnails), so small images are trained "
             "as they are scanned; needs --size above 32."),
    reencode_fraction: Optional[float] = typer.Option(
        None, "--reencode-fraction",
        help="Share of training images (both classes) re-saved whole as JPEG 60-95 and downscaled 0.4-0.8x "
             "before the crop, the way sharing sites re-encode uploads."),
    saturation_fraction: Optional[float] = typer.Option(
        None, "--saturation-fraction",
        help="Share of training images (both classes) whose colour saturation is scaled by 0.5-1.6x first, "
             "as a phone's vivid or muted filter does."),
    grey_fraction: Optional[float] = typer.Option(
        None, "--grey-fraction",
        help="Share of training images (both classes) turned grey first (three equal channels of their luma), "
             "so the model must also find the evidence without colour."),
    jpeg_fraction: Optional[float] = typer.Option(
        None, "--jpeg-fraction",
        help="Share of training images (both classes) first re-saved whole as JPEG at quality 70-100, without "
             "resizing, so that a lossless file (most generators' output) is no evidence either way."),
    chroma_match_fraction: Optional[float] = typer.Option(
        None, "--chroma-match-fraction",
        help="Share of training images (both classes) whose saturation is scaled so their mean chroma hits a "
             "level drawn alike for both classes, so that how colourful an image is says nothing of its class."),
    hard_real_share: Optional[float] = typer.Option(
        None, "--hard-real-share",
        help="Share of real draws taken from the real training files a model scores most fake (hard-real "
             "mining; ranked once per run by --hard-real-model, else --init-from)."),
    hard_real_top: Optional[float] = typer.Option(
        None, "--hard-real-top", help="Which real files count as hard: this top share by image score (default 0.05)."),
    hard_real_model: Optional[Path] = typer.Option(
        None, "--hard-real-model", help="Detector/run directory that ranks the real files (default: --init-from)."),
    hard_fake_share: Optional[float] = typer.Option(
        None, "--hard-fake-share",
        help="Share of fake draws taken from the fake training files a model scores most real (hard-fake "
             "mining; ranked once per run by --hard-fake-model, else --init-from)."),
    hard_fake_top: Optional[float] = typer.Option(
        None, "--hard-fake-top", help="Which fake files count as hard: this bottom share by image score (default 0.05)."),
    hard_fake_model: Optional[Path] = typer.Option(
        None, "--hard-fake-model", help="Detector/run directory that ranks the fake files (default: --init-from)."),
    hard_per_source: Optional[bool] = typer.Option(
        None, "--hard-per-source/--hard-over-class",
        help="Take the hard share of mined files within each training source (default: over the whole class)."),
    aggregation: Optional[str] = typer.Option(
        None, "--aggregation",
        help="Image-score rule the run validates with and records (mean_prob, mean_logit, vote, topk:FRACTION); "
             "default: the --init-from model's, else mean_prob."),
    image_loss_weight: Optional[float] = typer.Option(
        None, "--image-loss-weight",
        help="Add this weight times the cross-entropy of each crop's image score (under the run's --aggregation "
             "rule) to the per-cell loss, so training also optimises the aggregated score (default 0: cells only)."),
    distill_from: Optional[Path] = typer.Option(
        None, "--distill-from",
        help="Teacher detector/run directory (same cut): on the crops not re-encoded, the cell outputs follow "
             "the teacher's (KL per cell), so a stage that learns re-encoded images keeps what the teacher ranked."),
    distill_weight: Optional[float] = typer.Option(
        None, "--distill-weight", help="Weight of that distillation loss (needs --distill-from; default 0: none)."),
    head_hidden: Optional[int] = typer.Option(
        None, "--head-hidden",
        help="Add a per-cell MLP head of this width to the linear 1x1 head (default 0: linear only); it starts "
             "at zero, so a model warm-started from a linear-head detector begins with that detector's outputs."),
    freeze_trunk: Optional[bool] = typer.Option(
        None, "--freeze-trunk/--train-trunk",
        help="Train the head(s) only, keeping the --init-from model's trunk and its BatchNorm statistics."),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Train a patch classifier (resumes when --out already holds a run)."""
    from forensics.checkpoint import CheckpointError
    from forensics.training.train import TrainConfig, train as run_training

    overrides = dict(real=[str(p) for p in real] if real else None, fake=[str(p) for p in fake] if fake else None,
                     out=str(out) if out else None, arch=arch, input_filter=input_filter,
                     val_real=[str(p) for p in val_real] if val_real else None,
                     val_fake=[str(p) for p in val_fake] if val_fake else None, epochs=epochs,
                     steps_per_epoch=steps_per_epoch, batch_size=batch_size, size=size, augment=augment, lr=lr,
                     patience=patience, workers=workers, device=device, seed=seed,
                     init_from=str(init_from) if init_from else None, selection=selection, lr_schedule=lr_schedule,
                     source_weights=parse_weighted(source_weight, "--source-weight", "NAME=NUMBER, e.g. fake:ldif=2")
                     if source_weight else None,
                     small_fraction=small_fraction, reencode_fraction=reencode_fraction,
                     saturation_fraction=saturation_fraction, grey_fraction=grey_fraction, jpeg_fraction=jpeg_fraction,
                     chroma_match_fraction=chroma_match_fraction,
                     hard_real_share=hard_real_share, hard_real_top=hard_real_top,
                     hard_real_model=str(hard_real_model) if hard_real_model else None,
                     hard_fake_share=hard_fake_share, hard_fake_top=hard_fake_top,
                     hard_fake_model=str(hard_fake_model) if hard_fake_model else None,
                     hard_per_source=hard_per_source, aggregation=aggregation,
                     image_loss_weight=image_loss_weight,
                     distill_from=str(distill_from) if distill_from else None, distill_weight=distill_weight,
                     head_hidden=head_hidden, freeze_trunk=freeze_trunk,
                     progress=False if quiet else None)
    try:
        if config:
            cfg = TrainConfig.from_file(config, **overrides)
        else:
            if not (real and fake and out):
                fail("--real, --fake and --out are required (or give --config)")
            cfg = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
        for d in list(cfg.real) + list(cfg.fake):
            if not Path(d).is_dir():
                fail(f"{d}: not a directory")
        run = run_training(cfg)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        fail(str(e))
    typer.echo(str(run))


def _parse_named(specs: List[str]) -> dict[str, Path]:
    out = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep:
            name, path = Path(s).name, s
        if not Path(path).is_dir():
            fail(f"{path}: not a directory")
        out[name] = Path(path)
    return out


def evaluate(
    model: Optional[str] = typer.Option(None, "--model", help="Run directory or shipped model name."),
    real: List[Path] = typer.Option(..., "--real", help="Folder(s) of real images."),
    fake: List[str] = typer.Option(..., "--fake", help="NAME=DIR, repeatable."),
    perturb: Optional[str] = typer.Option(None, "--perturb", help="e.g. jpeg:75,resize:0.5,blur:1 (both classes)."),
    out: Optional[Path] = typer.Option(None, "--out", help="results.json (PR curves PNG beside it)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many images per folder."),
    device: str = typer.Option("auto", "--device"),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """AP (fake = positive), accuracy, TPR at 1%/5% FPR and calibration error (ECE, both classes weighted
    equally) per fake set and overall."""
    from forensics.checkpoint import atomic_write_json
    from forensics.evaluate import evaluate as run_eval, plot_pr_curves, strip_scores

    for r in real:
        if not r.is_dir():
            fail(f"{r}: not a directory")
    fakes = _parse_named(fake)
    det = load_detector(model, device)
    try:
        res = run_eval(det, real, fakes, perturb=perturb, limit=limit, progress=not quiet)
    except ValueError as e:
        fail(str(e))
    for cname, c in res["conditions"].items():
        typer.echo(f"[{cname}]")
        for name, m in list(c["fake_sets"].items()) + [("overall", c["overall"])]:
            typer.echo(f"  {name:24s} AP {m['ap']:.4f}  acc {m['accuracy']:.3f}  "
                       f"TPR@1%FPR {m['tpr_at_fpr_1']:.3f}  TPR@5%FPR {m['tpr_at_fpr_5']:.3f}  ECE {m['ece']:.3f}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_pr_curves(res, out.with_suffix(".pr.png"))
        atomic_write_json(out, strip_scores(res))
        typer.echo(f"wrote {out}", err=True)


def calibrate(
    model: Path = typer.Option(..., "--model", help="Run/model directory to calibrate (config.json is updated)."),
    real: List[Path] = typer.Option(..., "--real"),
    fake: Optional[List[Path]] = typer.Option(None, "--fake", help="Fake folders: also fit a temperature."),
    target_fpr: float = typer.Option(0.01, "--target-fpr"),
    limit: Optional[int] = typer.Option(None, "--limit"),
    device: str = typer.Option("auto", "--device"),
    quiet: bool = typer.Option(False, "--quiet"),
    aggregation: Optional[str] = typer.Option(
        None, "--aggregation", help="Also set the image-score rule: mean_prob, mean_logit, vote, topk:FRACTION."),
    fit_scaling: bool = typer.Option(
        False, "--fit-scaling",
        help="Also fit a Platt rescaling of the image score on --real and --fake (classes weighted equally), "
             "so scores read as P(fake) when half the images are fake."),
) -> None:
    """Set the decision threshold for a target false-positive rate on real images."""
    from forensics.aggregate import ScoreRule
    from forensics.calibrate import calibrate as run_calibration
    from forensics.checkpoint import CheckpointError

    for d in list(real) + list(fake or []):
        if not d.is_dir():
            fail(f"{d}: not a directory")
    try:
        rule = ScoreRule.parse(aggregation) if aggregation else None
        rec = run_calibration(model, real, fake_dirs=fake or [], target_fpr=target_fpr, limit=limit,
                              device=device, progress=not quiet, score_rule=rule, fit_scaling=fit_scaling)
    except (CheckpointError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps(rec, indent=2))


def fit_head(
    config: Path = typer.Option(..., "--config", help="JSON head-fit recipe (init_from, out, and options)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: the recipe's out)."),
    device: Optional[str] = typer.Option(None, "--device"),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Refit a detector's head on whole-image features of its training images, clean and re-encoded
    (the trunk is kept as it is)."""
    from forensics.checkpoint import CheckpointError
    from forensics.training.head_fit import HeadFitConfig, run_head_fit

    try:
        cfg = HeadFitConfig.from_file(config, out=str(out) if out else None, device=device,
                                      progress=False if quiet else None)
        run = run_head_fit(cfg)
    except json.JSONDecodeError as e:
        fail(f"{config}: invalid JSON ({e})")
    except (ValueError, TypeError, CheckpointError, FileNotFoundError) as e:
        fail(str(e))
    typer.echo(f"head refit saved to {run}")


def import_backbone(
    weights: Path = typer.Argument(..., help="Pretrained backbone weights: safetensors, timm ResNet tensor names."),
    arch: str = typer.Option(..., "--arch", help="Detector architecture to start (a ResNet cut, e.g. resnet18_layer3_slim)."),
    out: Path = typer.Option(..., "--out", help="Detector folder to write (config.json + model.safetensors)."),
    input_filter: str = typer.Option("none", "--input-filter",
                                     help="none (what ImageNet weights were trained on) or residual."),
) -> None:
    """Write a detector folder whose trunk holds a backbone's pretrained weights, to start training from
    (`forensics train --init-from OUT`); its head is untrained."""
    from forensics.training.backbone_import import import_backbone as run_import
    from forensics.checkpoint import CheckpointError

    try:
        copied, total = run_import(weights, arch, out, input_filter)
    except (ValueError, CheckpointError) as e:
        fail(str(e))
    typer.echo(f"{out}: {copied} of {total} tensors from {weights}; train from it with --init-from {out}")

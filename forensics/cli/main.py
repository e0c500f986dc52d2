"""The `forensics` typer application; each command group lives in its own module."""
from __future__ import annotations

import typer

from forensics import __version__
from forensics.cli.help import ForensicsCommand, ForensicsGroup

app = typer.Typer(
    name="forensics",
    help="Detect generated images with patch classifiers and show where the artifacts are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help that reads well at 80 columns (forensics.cli.help)
    cls=ForensicsGroup,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"forensics {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Detect generated images with patch classifiers and show where the artifacts are."""


# One-line summaries for `forensics --help` (each command's docstring is its full help).
SHORT_HELP = {
    "scan": "Verdict and P(fake) per image (exit 1 if one is flagged).",
    "audit": "Resumable batch audit of folders to JSONL, CSV and a summary.",
    "report": "Score real and fake folders; write one HTML report.",
    "inspect": "Provenance: metadata, C2PA, watermarks of one file.",
    "models": "Detector architectures and shipped weights.",
    "fetch-clip": "Download the CLIP encoder the fused default uses (once).",
    "demo": "Make a demo folder, scan it and write a report.",
    "generate": "Sample a fake image set from a bundled generator.",
    "train": "Train a patch classifier (resumable).",
    "train-fused": "Build a fused detector (patch + CLIP probe) from a recipe.",
    "eval": "AP, accuracy, TPR at low FPR and calibration per fake set.",
    "calibrate": "Set the threshold for a target false-positive rate.",
    "average": "Average detectors of one architecture (a model soup).",
    "import-backbone": "A detector folder from a pretrained backbone, to train.",
    "fit-head": "Refit a detector's head on whole-image features.",
    "analyze": "Mean heatmaps, top patches, regions and spectra per set.",
}


def _register() -> None:
    # One line per command module; each module exposes a plain function.
    from forensics.cli import (analyze_cmd, audit_cmd, average_cmd, demo_cmd, generate_cmd, inspect_cmd,
                               models_cmd, pretrained_cmd, report_cmd, scan_cmd, train_cmd)

    commands = {
        "scan": scan_cmd.scan, "audit": audit_cmd.audit, "report": report_cmd.report,
        "inspect": inspect_cmd.inspect, "models": models_cmd.models, "fetch-clip": pretrained_cmd.fetch_clip,
        "demo": demo_cmd.demo,
        "generate": generate_cmd.generate, "train": train_cmd.train, "train-fused": pretrained_cmd.train_fused, "eval": train_cmd.evaluate,
        "calibrate": train_cmd.calibrate, "average": average_cmd.average,
        "import-backbone": train_cmd.import_backbone, "fit-head": train_cmd.fit_head,
        "analyze": analyze_cmd.analyze,
    }
    for name, func in commands.items():
        app.command(name, cls=ForensicsCommand, short_help=SHORT_HELP.get(name))(func)


_register()


def main() -> None:
    app()

"""The `forensics` typer application; each command group lives in its own module."""
from __future__ import annotations

import typer

from forensics import __version__

app = typer.Typer(
    name="forensics",
    help="Detect generated images with patch classifiers and show where the artifacts are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def _register() -> None:
    # One line per command module; each module exposes a plain function.
    from forensics.cli import demo_cmd, inspect_cmd, models_cmd, scan_cmd, train_cmd
    from forensics.cli import generate_cmd
    app.command("scan")(scan_cmd.scan)
    app.command("models")(models_cmd.models)
    app.command("train")(train_cmd.train)
    app.command("eval")(train_cmd.evaluate)
    app.command("calibrate")(train_cmd.calibrate)
    app.command("fit-head")(train_cmd.fit_head)
    app.command("import-backbone")(train_cmd.import_backbone)
    from forensics.cli import average_cmd
    app.command("average")(average_cmd.average)
    app.command("inspect")(inspect_cmd.inspect)
    app.command("demo")(demo_cmd.demo)
    from forensics.cli import analyze_cmd, report_cmd
    app.command("analyze")(analyze_cmd.analyze)
    app.command("report")(report_cmd.report)
    app.command("generate")(generate_cmd.generate)
    from forensics.cli import audit_cmd
    app.command("audit")(audit_cmd.audit)


_register()


def main() -> None:
    app()

"""`forensics demo`: the main job on the embedded defaults, with no external data."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def demo(
    out: Path = typer.Option(Path("forensics-demo"), "--out", help="Folder for images, heatmaps and the report."),
    model: Optional[str] = typer.Option(None, "--model",
                                        help="Model directory or shipped model name (default: embedded)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Make a demo folder (bundled-generator fakes + shipped real photos), scan it, write a report."""
    from forensics.demo import run_demo

    report = run_demo(out, model=model, device=device, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"report: {report.resolve()}")

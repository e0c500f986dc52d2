"""`forensics average`: one detector from the weighted average of several (a model soup)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from forensics.cli.common import fail, parse_weighted


def average(
    models: Optional[List[str]] = typer.Argument(None, help="MODEL_DIR=WEIGHT, two or more (a bare MODEL_DIR weighs 1)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory for the averaged detector."),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="Name recorded in the averaged model's config."),
    config: Optional[Path] = typer.Option(
        None, "--config", help='JSON recipe: {"models": {DIR: WEIGHT}, "out": DIR, "model_id": ID, "aggregation": RULE}.'),
    aggregation: Optional[str] = typer.Option(
        None, "--aggregation", help="Image-score rule of the result: mean_prob, mean_logit, vote, topk:FRACTION."),
) -> None:
    """Average the weights of detectors of one architecture fine-tuned from one another; calibrate after."""
    from forensics.aggregate import ScoreRule
    from forensics.training.average import average_detectors, read_average_config
    from forensics.checkpoint import CheckpointError

    if models and config:
        fail("give MODEL_DIR=WEIGHT arguments or --config, not both")
    try:
        rule = ScoreRule.parse(aggregation) if aggregation else None
        if config:
            recipe = read_average_config(config)
            parts = {str(k): float(v) for k, v in recipe["models"].items()}
            out = out or Path(recipe["out"])
            model_id = model_id or recipe.get("model_id")
            rule = rule or recipe.get("aggregation")
        else:
            parts = parse_weighted(models or [], "model", "MODEL_DIR=WEIGHT, e.g. runs/stage8=0.7", bare=1.0)
        if out is None:
            fail("--out is required (or give --config)")
        written = average_detectors(parts, out, model_id=model_id, score_rule=rule)
    except json.JSONDecodeError as e:
        fail(f"{config}: invalid JSON ({e})")
    except (ValueError, CheckpointError, OSError) as e:
        fail(str(e).splitlines()[0])
    typer.echo(str(written))

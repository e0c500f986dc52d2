"""`forensics models`: detector architectures and shipped weights."""
from __future__ import annotations

import json

import typer


def models(
    details: bool = typer.Option(False, "--details", help="Measure receptive field, stride and parameters (slower)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List detector architectures, shipped detector weights and bundled generator weights."""
    from forensics.aggregate import ScoreRule
    from forensics.calibrate import threshold_profiles
    from forensics.detector import shipped_models
    from forensics.models import build_model, list_architectures, parameter_count

    archs = []
    for name in list_architectures():
        row = {"name": name}
        if details:
            m = build_model(name)
            rf, stride, _ = m.geometry()
            row.update(receptive_field=rf or "whole image", stride=stride or "-", parameters=parameter_count(m))
        archs.append(row)
    shipped = []
    for name, path in shipped_models().items():
        cfg = json.loads((path / "config.json").read_text())
        rule = ScoreRule.from_config(cfg)
        shipped.append({"name": name, "model_id": cfg.get("model_id"), "arch": cfg.get("arch"),
                        "input_filter": cfg.get("input_filter"), "head_hidden": cfg.get("head_hidden") or 0,
                        "threshold": cfg.get("threshold"),
                        "threshold_profiles": threshold_profiles(cfg.get("calibration")),
                        "aggregation": rule.name, "score_scaling": rule.to_config()["score_scaling"],
                        "path": str(path)})
    gens = []
    try:
        import generators

        for g in generators.list_generators():
            try:
                wdir = generators.default_weights_dir(g)
                gens.append({"name": g, "weights": str(wdir) if wdir and wdir.exists() else None})
            except Exception:
                gens.append({"name": g, "weights": None})
    except Exception:
        pass
    if json_out:
        typer.echo(json.dumps({"architectures": archs, "detectors": shipped, "generators": gens}, indent=2))
        return
    typer.echo("Detector architectures:")
    for a in archs:
        extra = f"  rf={a['receptive_field']} stride={a['stride']} params={a['parameters']:,}" if details else ""
        typer.echo(f"  {a['name']}{extra}")
    typer.echo("Shipped detector weights:")
    for s in shipped:
        typer.echo(f"  {s['name']}: {s['model_id']} ({s['arch']}, input {s['input_filter']}, "
                   + (f"MLP head {s['head_hidden']}, " if s["head_hidden"] else "")
                   + f"image score {s['aggregation']}"
                   + (" Platt-rescaled" if s["score_scaling"] else "") + f", threshold {s['threshold']}"
                   + "".join(f"; --profile {n}: {t}" for n, t in s["threshold_profiles"].items()) + ")")
    if gens:
        typer.echo("Bundled generators:")
        for g in gens:
            typer.echo(f"  {g['name']}: {'pretrained weights shipped' if g['weights'] else 'no weights'}")

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
    from forensics.detector import DEFAULT_MODEL, FUSED_FORMAT
    from forensics.pretrained import clip_file

    clip_ok, clip_where = clip_file.status()
    pretrained = {"name": "clip-vit-b16-int8", "present": clip_ok,
                  ("path" if clip_ok else "problem"): clip_where}
    shipped = []
    for name, path in shipped_models().items():
        cfg = json.loads((path / "config.json").read_text())
        if cfg.get("format") == FUSED_FORMAT:
            feats = cfg["clip"]["features"]
            shipped.append({"name": name, "default": name == DEFAULT_MODEL, "model_id": cfg.get("model_id"),
                            "kind": "fused", "patch_model": cfg.get("patch_model"),
                            "clip_features": feats, "clip_precision": cfg["clip"].get("precision", "int8"),
                            "combiner": cfg.get("combiner"),
                            "kinds": [{"name": k.get("name"), "offset": k.get("offset"),
                                       "expert_weight": (k.get("expert") or {}).get("weight")}
                                      for k in cfg.get("kinds") or []],
                            "threshold": cfg.get("threshold"), "real_below": cfg.get("real_below"),
                            "threshold_profiles": threshold_profiles(cfg.get("calibration")),
                            "pretrained_present": clip_ok, "path": str(path)})
            continue
        rule = ScoreRule.from_config(cfg)
        shipped.append({"name": name, "default": name == DEFAULT_MODEL, "kind": "patch",
                        "model_id": cfg.get("model_id"), "arch": cfg.get("arch"),
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
    shipped.sort(key=lambda d: (not d["default"], d["name"]))  # the default first
    if json_out:
        typer.echo(json.dumps({"detectors": shipped, "pretrained": pretrained, "architectures": archs,
                               "generators": gens}, indent=2))
        return
    typer.echo("Shipped detectors:")
    for s in shipped:
        mark = " (default)" if s["default"] else ""
        if s["kind"] == "fused":
            f = s["clip_features"]
            blocks = "mean of patch tokens of blocks " + ",".join(map(str, f["mean_blocks"])) + (
                " + CLS of blocks " + ",".join(map(str, f["cls_blocks"])) if f["cls_blocks"] else "")
            typer.echo(f"  {s['name']}{mark}: {s['model_id']} (fused: patch model '{s['patch_model']}' + linear probe on "
                       f"CLIP ViT-B/16 ({s['clip_precision']}) {blocks}, view {f['view']}; fake at P(fake) >= {s['threshold']}, "
                       f"real below {s['real_below']}, uncertain between"
                       + "".join(f"; --profile {n}: {t}" for n, t in s["threshold_profiles"].items())
                       + "".join(f"; {_kind_text(k)}" for k in s["kinds"]) + ")")
            continue
        typer.echo(f"  {s['name']}{mark}: {s['model_id']} ({s['arch']}, input {s['input_filter']}, "
                   + (f"MLP head {s['head_hidden']}, " if s["head_hidden"] else "")
                   + f"image score {s['aggregation']}"
                   + (" Platt-rescaled" if s["score_scaling"] else "") + f", threshold {s['threshold']}"
                   + "".join(f"; --profile {n}: {t}" for n, t in s["threshold_profiles"].items()) + ")")
    typer.echo("Pretrained encoder (for fused detectors):")
    typer.echo(f"  CLIP ViT-B/16 (INT8 ONNX; fused models may run it in float32): {'present, ' + clip_where if clip_ok else 'MISSING: ' + clip_where}")
    typer.echo("Detector architectures (forensics train --arch):")
    for a in archs:
        extra = f"  rf={a['receptive_field']} stride={a['stride']} params={a['parameters']:,}" if details else ""
        typer.echo(f"  {a['name']}{extra}")
    if gens:
        typer.echo("Bundled generators:")
        for g in gens:
            typer.echo(f"  {g['name']}: {'pretrained weights shipped' if g['weights'] else 'no weights'}")


def _kind_text(kind: dict) -> str:
    """How a fused model judges one kind of picture, for the listing."""
    parts = []
    if kind.get("expert_weight"):
        parts.append(f"their CLIP logit {kind['expert_weight']:.0%} of the way to a {kind['name']} expert probe")
    if kind.get("offset"):
        parts.append(f"their own threshold (fused logit {kind['offset']:+.3f})")
    return f"{kind['name']} images judged with " + (" and ".join(parts) if parts else "the general probe and threshold")

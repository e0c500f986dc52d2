"""`forensics average` on real saved detectors: arguments, a recipe file, one-line errors."""
import json

import pytest
from typer.testing import CliRunner

from forensics import Detector
from forensics.checkpoint import read_config, save_checkpoint
from forensics.models import build_model


@pytest.fixture()
def parts(tmp_path):
    out = []
    for seed in (1, 2):
        out.append(save_checkpoint(tmp_path / f"m{seed}", build_model("resnet18_layer1").state_dict(),
                                   {"arch": "resnet18_layer1", "threshold": 0.5, "model_id": f"m{seed}"}))
    return out


def _run(*args):
    from forensics.cli.main import app

    return CliRunner().invoke(app, ["average", *map(str, args)])


def test_arguments_write_a_loadable_average(parts, tmp_path):
    res = _run(f"{parts[0]}=1", f"{parts[1]}=3", "--out", tmp_path / "avg", "--model-id", "soup")
    assert res.exit_code == 0, res.stderr
    cfg = read_config(tmp_path / "avg")
    assert cfg["model_id"] == "soup" and [p["weight"] for p in cfg["averaged_from"]] == [0.25, 0.75]
    assert Detector.load(tmp_path / "avg", device="cpu").model_id == "soup"


def test_recipe_file_gives_parts_out_name_and_score_rule(parts, tmp_path):
    recipe = tmp_path / "avg.json"
    recipe.write_text(json.dumps({"models": {str(parts[0]): 0.7, str(parts[1]): 0.3}, "aggregation": "topk:0.5",
                                  "out": str(tmp_path / "from_file"), "model_id": "from-file"}))
    res = _run("--config", recipe)
    assert res.exit_code == 0, res.stderr
    cfg = read_config(tmp_path / "from_file")
    assert (cfg["model_id"], cfg["aggregation"], cfg["topk_fraction"]) == ("from-file", "topk", 0.5)
    assert Detector.load(tmp_path / "from_file", device="cpu").score_rule.name == "topk:0.5"


def test_aggregation_option_sets_the_score_rule(parts, tmp_path):
    res = _run(parts[0], parts[1], "--out", tmp_path / "avg", "--aggregation", "mean_logit")
    assert res.exit_code == 0, res.stderr
    assert read_config(tmp_path / "avg")["aggregation"] == "mean_logit"


@pytest.mark.parametrize("args, reason", [
    (lambda p, t: [p[0], "--out", t / "o"], "at least two"),
    (lambda p, t: [f"{p[0]}=x", p[1], "--out", t / "o"], "expected MODEL_DIR=WEIGHT"),
    (lambda p, t: [p[0], t / "missing", "--out", t / "o"], "model directory not found"),
    (lambda p, t: [p[0], p[1]], "--out is required"),
    (lambda p, t: [p[0], p[1], "--config", t / "r.json"], "not both"),
    (lambda p, t: ["--config", t / "missing.json"], "missing.json"),
    (lambda p, t: [p[0], p[1], "--out", t / "o", "--aggregation", "topk:2"], "aggregation 'topk:2'"),
])
def test_bad_input_is_one_line_and_exit_2(parts, tmp_path, args, reason):
    res = _run(*args(parts, tmp_path))
    assert res.exit_code == 2 and reason in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()

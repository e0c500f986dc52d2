"""Weight averaging of saved detectors: exact weighted means, recorded parts, refusals."""
import json

import numpy as np
import pytest
import torch

from forensics import Detector
from forensics.aggregate import ScoreRule, aggregate_map
from forensics.training.average import average_detectors, read_average_config
from forensics.checkpoint import read_config, read_state, save_checkpoint
from forensics.models import build_model


def _saved(path, arch="resnet18_layer1", seed=0, batches=1, **extra):
    torch.manual_seed(seed)
    state = build_model(arch).state_dict()
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            v.fill_(batches)
        elif k.endswith("running_var"):
            v.uniform_(0.5, 2.0)  # distinct statistics, so their average is checked too
    return save_checkpoint(path, state, {"arch": arch, "input_filter": "residual", "threshold": 0.8,
                                         "model_id": f"m{seed}", "best_epoch": 3, "training": {"lr": seed}})


def test_average_is_the_weighted_mean_of_every_float_tensor(tmp_path):
    a, b = _saved(tmp_path / "a", seed=1, batches=10), _saved(tmp_path / "b", seed=2, batches=20)
    out = average_detectors({str(a): 1.0, str(b): 3.0}, tmp_path / "avg", model_id="avg-1")
    sa, sb, so = (read_state(d, read_config(d)) for d in (a, b, out))
    for k, v in so.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.25 * sa[k] + 0.75 * sb[k], rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(v, sb[k])  # counters come from the last part
    cfg = read_config(out)
    assert cfg["model_id"] == "avg-1" and cfg["threshold"] == 0.5 and "best_epoch" not in cfg
    assert cfg["averaged_from"] == [{"model": str(a), "weight": 0.25}, {"model": str(b), "weight": 0.75}]
    assert cfg["training"] == {"lr": 2}  # the last part's record (its validation split), kept for calibration


def test_an_average_of_a_model_with_itself_scores_like_it(tmp_path, photos):
    a = _saved(tmp_path / "a", seed=4)
    out = average_detectors({str(a): 0.3, f"{a}/": 0.7}, tmp_path / "same")  # the same model under two names
    rgb = next(iter(photos.values()))
    one, avg = Detector.load(a, device="cpu"), Detector.load(out, device="cpu")
    assert np.isclose(one.scan(rgb).score, avg.scan(rgb).score, atol=1e-5)


def test_average_can_set_the_image_score_rule(tmp_path, photos):
    a, b = _saved(tmp_path / "a", seed=1), _saved(tmp_path / "b", seed=2)
    out = average_detectors({str(a): 1, str(b): 1}, tmp_path / "top", score_rule=ScoreRule.parse("topk:0.5"))
    cfg = read_config(out)
    assert (cfg["aggregation"], cfg["topk_fraction"]) == ("topk", 0.5)
    det = Detector.load(out, device="cpu")
    rgb = next(iter(photos.values()))
    fake_logit = det.cell_map(rgb).fake_logit
    assert det.scan(rgb).score == pytest.approx(aggregate_map(fake_logit, "topk", topk_fraction=0.5), abs=1e-6)
    assert det.scan(rgb).score != pytest.approx(aggregate_map(fake_logit, "mean_prob"), abs=1e-6)

    # parts scored by different rules still average (the rule touches no tensor): the last part's is kept
    mixed = average_detectors({str(a): 1, str(out): 1}, tmp_path / "mixed")
    assert ScoreRule.from_config(read_config(mixed)) == ScoreRule("topk", 0.5)


def test_parts_of_different_architectures_or_bad_weights_are_refused(tmp_path):
    a, b = _saved(tmp_path / "a"), _saved(tmp_path / "b", arch="resnet18_layer2")
    with pytest.raises(ValueError, match="arch .* differs"):
        average_detectors({str(a): 1, str(b): 1}, tmp_path / "x")
    with pytest.raises(ValueError, match="at least two"):
        average_detectors({str(a): 1}, tmp_path / "x")
    with pytest.raises(ValueError, match=">= 0"):
        average_detectors({str(a): -1, f"{a}/": 2}, tmp_path / "x")
    with pytest.raises(ValueError, match="not all 0"):
        average_detectors({str(a): 0, f"{a}/": 0}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_recipe_file_is_checked(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"models": {"runs/a": 0.7, "runs/b": 0.3}, "out": "runs/c"}))
    assert read_average_config(good)["models"] == {"runs/a": 0.7, "runs/b": 0.3}
    good.write_text(json.dumps({"models": {"runs/a": 1, "runs/b": 1}, "out": "runs/c", "aggregation": "topk:0.25"}))
    assert read_average_config(good)["aggregation"] == ScoreRule("topk", 0.25)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": {"runs/a": 1}, "out": "runs/c", "lr": 1}))
    with pytest.raises(ValueError, match="unknown averaging options"):
        read_average_config(bad)
    bad.write_text(json.dumps({"out": "runs/c"}))
    with pytest.raises(ValueError, match="needs"):
        read_average_config(bad)
    bad.write_text(json.dumps({"models": {"runs/a": "0.5", "runs/b": 0.5}, "out": "runs/c"}))
    with pytest.raises(ValueError, match="bad.json: every model's weight must be a number"):
        read_average_config(bad)
    bad.write_text(json.dumps({"models": {"runs/a": 1, "runs/b": 1}, "out": "runs/c", "aggregation": "median"}))
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        read_average_config(bad)


def test_parts_with_different_heads_are_refused(tmp_path):
    a = _saved(tmp_path / "a")
    torch.manual_seed(1)
    b = save_checkpoint(tmp_path / "b", build_model("resnet18_layer1", head_hidden=8).state_dict(),
                        {"arch": "resnet18_layer1", "input_filter": "residual", "head_hidden": 8, "threshold": 0.8})
    with pytest.raises(ValueError, match="head_hidden .* differs"):
        average_detectors({str(a): 1, str(b): 1}, tmp_path / "x")
    assert not (tmp_path / "x").exists()

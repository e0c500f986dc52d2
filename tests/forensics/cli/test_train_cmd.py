"""`forensics train` options on a tiny real folder pair: small batches, re-encoding and the image-score loss on the command line."""
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.cli.main import app


@pytest.fixture(scope="module")
def pair(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(1)
    for label in ("real", "fake"):
        (root / label).mkdir()
    for k, rgb in enumerate(photos.values()):
        for j in range(3):
            y, x = rng.integers(0, rgb.shape[0] - 80), rng.integers(0, rgb.shape[1] - 80)
            crop = rgb[y:y + 80, x:x + 80]
            Image.fromarray(crop).save(root / "real" / f"{k}_{j}.png")
            Image.fromarray(255 - crop).save(root / "fake" / f"{k}_{j}.png")
    return root


def _train(pair, out, *extra):
    return CliRunner().invoke(app, ["train", "--real", str(pair / "real"), "--fake", str(pair / "fake"),
                                    "--out", str(out), "--arch", "resnet18_layer1", "--epochs", "1",
                                    "--steps-per-epoch", "3", "--batch-size", "4", "--size", "48",
                                    "--workers", "0", "--device", "cpu", "--quiet", *extra])


def test_small_fraction_is_trained_and_recorded(pair, tmp_path):
    res = _train(pair, tmp_path / "run", "--small-fraction", "0.5")
    assert res.exit_code == 0, (res.exception, res.stderr)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["training"]["small_fraction"] == 0.5


def test_reencode_fraction_is_trained_and_recorded(pair, tmp_path):
    res = _train(pair, tmp_path / "run", "--reencode-fraction", "0.4")
    assert res.exit_code == 0, (res.exception, res.stderr)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["training"]["reencode_fraction"] == 0.4


def test_image_loss_weight_is_trained_and_recorded(pair, tmp_path):
    res = _train(pair, tmp_path / "run", "--aggregation", "topk:0.5", "--image-loss-weight", "0.5")
    assert res.exit_code == 0, (res.exception, res.stderr)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["training"]["image_loss_weight"], cfg["aggregation"]) == (0.5, "topk")


@pytest.mark.parametrize("extra, reason", [(["--small-fraction", "1.5"], "small_fraction must be within 0-1"),
                                           (["--small-fraction", "0.3", "--size", "32"], "above 32 px"),
                                           (["--reencode-fraction", "-0.1"], "reencode_fraction must be within 0-1"),
                                           (["--source-weight", "fake:fake=x"], "expected NAME=NUMBER"),
                                           (["--source-weight", "fake:nope=2"], "unknown sources"),
                                           (["--hard-real-share", "0.3"], "needs hard_real_model"),
                                           (["--hard-real-share", "0.3", "--hard-real-model", "/nonexistent"],
                                            "/nonexistent"),
                                           (["--hard-fake-share", "0.3"], "needs hard_fake_model"),
                                           (["--hard-fake-share", "1.3", "--hard-fake-model", "/nonexistent"],
                                            "hard_fake_share must be within 0-1"),
                                           (["--image-loss-weight", "-1"], "image_loss_weight must be >= 0"),
                                           (["--aggregation", "vote", "--image-loss-weight", "1"],
                                            "image loss needs one of")])
def test_bad_fraction_is_one_line_and_exit_2(pair, tmp_path, extra, reason):
    res = _train(pair, tmp_path / "run", *extra)
    assert res.exit_code == 2 and reason in res.stderr and "Traceback" not in res.stderr


def test_calibrate_sets_the_image_score_rule(pair, tmp_path):
    assert _train(pair, tmp_path / "run").exit_code == 0
    res = CliRunner().invoke(app, ["calibrate", "--model", str(tmp_path / "run"), "--real", str(pair / "real"),
                                   "--aggregation", "topk:0.5", "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, (res.exception, res.stderr)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["aggregation"], cfg["topk_fraction"], cfg["calibration"]["aggregation"]) == ("topk", 0.5, "topk:0.5")


def test_calibrate_refuses_an_unknown_rule_in_one_line(pair, tmp_path):
    assert _train(pair, tmp_path / "run").exit_code == 0
    before = (tmp_path / "run" / "config.json").read_text()
    res = CliRunner().invoke(app, ["calibrate", "--model", str(tmp_path / "run"), "--real", str(pair / "real"),
                                   "--aggregation", "median", "--device", "cpu", "--quiet"])
    assert res.exit_code == 2 and "unknown aggregation 'median'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and (tmp_path / "run" / "config.json").read_text() == before


def test_calibrate_fit_scaling_stores_it_and_models_lists_it(pair, tmp_path):
    assert _train(pair, tmp_path / "run").exit_code == 0
    res = CliRunner().invoke(app, ["calibrate", "--model", str(tmp_path / "run"), "--real", str(pair / "real"),
                                   "--fake", str(pair / "fake"), "--fit-scaling", "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, (res.exception, res.stderr)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["score_scaling"]["method"] == "platt" and cfg["score_scaling"]["slope"] > 0
    assert cfg["calibration"]["score_scaling"]["n_real"] == cfg["calibration"]["n_real"]


def test_calibrate_fit_scaling_without_fakes_is_one_line_and_exit_2(pair, tmp_path):
    assert _train(pair, tmp_path / "run").exit_code == 0
    before = (tmp_path / "run" / "config.json").read_text()
    res = CliRunner().invoke(app, ["calibrate", "--model", str(tmp_path / "run"), "--real", str(pair / "real"),
                                   "--fit-scaling", "--device", "cpu", "--quiet"])
    assert res.exit_code == 2 and "needs fake folders" in res.stderr
    assert (tmp_path / "run" / "config.json").read_text() == before


def test_mining_options_belong_to_train_only():
    """The hard-example options are train options; calibrate does not offer (and silently ignore) them."""
    assert "--hard-fake-share" in CliRunner().invoke(app, ["train", "--help"], terminal_width=200).stdout
    calibrate_help = CliRunner().invoke(app, ["calibrate", "--help"], terminal_width=200).stdout
    assert "--aggregation" in calibrate_help and "--hard-" not in calibrate_help

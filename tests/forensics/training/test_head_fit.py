"""Head refit on whole-image features: the trunk is kept, the head learns, the run loads and is checked."""
import json

import pytest
import torch
from typer.testing import CliRunner

from forensics import Detector
from forensics.checkpoint import read_config, read_state, save_checkpoint
from forensics.cli.main import app
from forensics.data import FAKE, REAL, in_validation
from forensics.training.head_fit import HeadFitConfig, cell_weights, run_head_fit
from forensics.training.train import TrainConfig, train


@pytest.fixture(scope="module")
def base(folders, tmp_path_factory):
    """A small trained detector whose training record names the folders (the refit's default sources)."""
    out = tmp_path_factory.mktemp("base") / "run"
    return train(TrainConfig(real=[str(folders / "real")], fake=[str(folders / "fake")], out=str(out),
                             arch="resnet18_layer1", input_filter="residual", epochs=1, steps_per_epoch=10,
                             batch_size=8, size=48, val_size=64, val_fraction=0.25, workers=0, progress=False,
                             device="cpu"))


def _blank_head(base, path):
    """`base` with its head zeroed: every cell says 0.5, so only a fitted head can separate the classes."""
    cfg = read_config(base)
    state = read_state(base, cfg)
    state["head.weight"].zero_()
    state["head.bias"].zero_()
    return save_checkpoint(path, state, {k: v for k, v in cfg.items() if k not in ("format", "format_version", "weights")})


def test_refit_learns_the_head_and_keeps_the_trunk(base, tmp_path):
    blank = _blank_head(base, tmp_path / "blank")
    run = run_head_fit(HeadFitConfig(init_from=str(blank), out=str(tmp_path / "fit"), images_per_source=12,
                                     reencoded_views=1, cells_per_view=16, head_hidden=8, epochs=8,
                                     batch_size=128, lr=1e-2, progress=False, device="cpu"))
    cfg = read_config(run)
    assert cfg["head_hidden"] == 8 and cfg["head_fit"]["init_from"] == str(blank)
    assert cfg["training"]["real"] == read_config(base)["training"]["real"]
    counts = cfg["head_fit"]["cells_per_source"]
    assert set(counts) == {"real:real", "fake:fake"} and all(n > 0 for n in counts.values())
    before, after = read_state(blank, read_config(blank)), read_state(run, cfg)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("trunk."))
    assert after["head.weight"].abs().sum() > 0 and after["head_mlp.body.3.weight"].abs().sum() > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 8 and metrics["history"][-1]["val_ap"] > 0.9
    det = Detector.load(run, device="cpu")
    assert det.model.head_mlp is not None and det.score_rule.name == Detector.load(base, device="cpu").score_rule.name


def test_only_training_files_are_fit(base, folders, tmp_path, monkeypatch):
    """The refit draws from the base run's training split: no validation file is ever decoded for the fit."""
    import forensics.decoding as decoding

    seen = []
    real_load = decoding.load_image

    def spy(path, *a, **kw):
        seen.append(path)
        return real_load(path, *a, **kw)

    monkeypatch.setattr(decoding, "load_image", spy)
    import forensics.training.head_fit as head_fit

    cfg = HeadFitConfig(init_from=str(base), out=str(tmp_path / "fit"), images_per_source=1000, reencoded_views=0,
                        cells_per_view=4, head_hidden=0, epochs=1, progress=False, device="cpu")
    model_cfg = read_config(base)
    from forensics.training.data import make_sources
    from forensics.models import build_model
    from forensics.preprocess import Preprocessing

    model = build_model(model_cfg["arch"], model_cfg["input_filter"])
    sources = make_sources([folders / "real"], REAL, split="train", val_fraction=0.25) + \
        make_sources([folders / "fake"], FAKE, split="train", val_fraction=0.25)
    feats, labels, owners, names = head_fit.cache_cells(model, sources, cfg, Preprocessing(), torch.device("cpu"))
    assert seen and not any(in_validation(p, 0.25) for p in seen)
    assert len(seen) == sum(len(s.files) for s in sources)
    assert feats.dtype == torch.float16 and feats.shape[1] == 64 and len(labels) == len(owners) == len(feats)


def test_cell_weights_balance_classes_and_sources():
    labels = torch.tensor([REAL] * 6 + [FAKE] * 4)
    owners = torch.tensor([0] * 5 + [1] + [2] * 4)
    w = cell_weights(labels, owners, ["real:a", "real:b", "fake:c"], {"real:b": 3.0})
    assert w[labels == REAL].sum() == pytest.approx(w[labels == FAKE].sum())
    assert w[owners == 1].sum() == pytest.approx(3 * w[owners == 0].sum())
    assert w.sum() == pytest.approx(len(labels))


def test_bad_recipes_fail_with_one_line_errors(base, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"init_from": str(base), "out": str(tmp_path / "x"), "cells": 3}))
    res = runner.invoke(app, ["fit-head", "--config", str(bad)])
    assert res.exit_code != 0 and "unknown head-fit options ['cells']" in res.output
    bad.write_text(json.dumps({"init_from": str(base), "out": str(tmp_path / "x"), "epochs": 0}))
    res = runner.invoke(app, ["fit-head", "--config", str(bad)])
    assert res.exit_code != 0 and "epochs must be >= 1" in res.output
    bad.write_text(json.dumps({"init_from": str(base)}))
    res = runner.invoke(app, ["fit-head", "--config", str(bad)])
    assert res.exit_code != 0 and "needs out" in res.output
    res = runner.invoke(app, ["fit-head", "--config", str(tmp_path / "none.json")])
    assert res.exit_code != 0 and "none.json: no such recipe file" in res.output
    bad.write_text("{")
    res = runner.invoke(app, ["fit-head", "--config", str(bad)])
    assert res.exit_code != 0 and "invalid JSON" in res.output
    assert not (tmp_path / "x").exists()

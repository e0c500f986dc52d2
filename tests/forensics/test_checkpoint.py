import json
import shutil

import pytest
import torch

from forensics import Detector
from forensics.checkpoint import CheckpointError, read_config, save_checkpoint
from forensics.detector import resolve_model_dir
from forensics.models import build_model


@pytest.fixture()
def model_dir(tmp_path):
    model = build_model("resnet18_layer1")
    return save_checkpoint(tmp_path / "m", model.state_dict(), {"arch": "resnet18_layer1", "threshold": 0.5})


def test_round_trip_loads(model_dir):
    det = Detector.load(model_dir, device="cpu")
    assert det.config["arch"] == "resnet18_layer1"
    assert not list(model_dir.glob("*.tmp"))


def test_pickle_checkpoint_refused(tmp_path):
    p = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="pickle"):
        Detector.load(p)


def test_unknown_architecture(model_dir):
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["arch"] = "vgg16_layer1"
    (model_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unknown architecture"):
        Detector.load(model_dir)


def test_wrong_shapes(model_dir):
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["arch"] = "resnet18_layer2"
    (model_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match"):
        Detector.load(model_dir)


def test_nan_weights(tmp_path):
    state = build_model("resnet18_layer1").state_dict()
    state["head.weight"] = torch.full_like(state["head.weight"], float("nan"))
    d = save_checkpoint(tmp_path / "nan", state, {"arch": "resnet18_layer1"})
    with pytest.raises(CheckpointError, match="NaN"):
        Detector.load(d)


def test_weights_path_cannot_escape(model_dir, tmp_path):
    shutil.copy(model_dir / "model.safetensors", tmp_path / "outside.safetensors")
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["weights"] = "../outside.safetensors"
    (model_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="escapes"):
        read_config(model_dir)


def test_corrupt_weights_and_json(model_dir):
    (model_dir / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        Detector.load(model_dir)
    (model_dir / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        Detector.load(model_dir)


def test_unknown_model_name():
    with pytest.raises(CheckpointError, match="shipped"):
        resolve_model_dir("no-such-model")


def test_head_width_is_read_from_the_config_and_checked(tmp_path, model_dir):
    model = build_model("resnet18_layer1", head_hidden=8)
    run = save_checkpoint(tmp_path / "mlp", model.state_dict(),
                          {"arch": "resnet18_layer1", "head_hidden": 8, "threshold": 0.5})
    assert Detector.load(run, device="cpu").model.head_mlp is not None
    cfg = json.loads((run / "config.json").read_text())
    for bad in (-1, "8", 1.5):
        (run / "config.json").write_text(json.dumps({**cfg, "head_hidden": bad}))
        with pytest.raises(CheckpointError, match="head_hidden"):
            Detector.load(run)
    # weights without the head's tensors do not load as a model with one
    (model_dir / "config.json").write_text(json.dumps({**read_config(model_dir), "head_hidden": 8}))
    with pytest.raises(CheckpointError, match="do not match"):
        Detector.load(model_dir)

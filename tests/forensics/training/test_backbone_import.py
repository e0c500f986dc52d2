"""Starting a detector from a backbone's pretrained weights (`forensics.training.backbone_import`, `forensics import-backbone`)."""
import json

import pytest
import timm
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from forensics import Detector
from forensics.training.backbone_import import import_backbone
from forensics.checkpoint import CheckpointError, read_config, read_state
from forensics.cli.main import app
from forensics.training.distill import load_teacher
from forensics.models import build_model
from forensics.training.train import warm_start


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory):
    """A whole timm ResNet-18's tensors (classifier included), saved as an export would save them."""
    torch.manual_seed(3)
    state = {k: v.contiguous() for k, v in timm.create_model("resnet18", pretrained=False).state_dict().items()}
    path = tmp_path_factory.mktemp("weights") / "resnet18.safetensors"
    save_file(state, str(path))
    return path, state


def test_the_trunk_gets_every_backbone_tensor_and_training_can_start_from_it(resnet18_weights, tmp_path):
    path, state = resnet18_weights
    copied, total = import_backbone(path, "resnet18_layer3_slim_neck", tmp_path / "start")
    cfg = read_config(tmp_path / "start")
    saved = read_state(tmp_path / "start", cfg)
    assert cfg["arch"] == "resnet18_layer3_slim_neck" and cfg["input_filter"] == "none"
    assert cfg["imported_from"] == "resnet18.safetensors"
    torch.testing.assert_close(saved["trunk.body.layer3.0.conv2.weight"], state["layer3.0.conv2.weight"])
    torch.testing.assert_close(saved["trunk.body.bn1.running_var"], state["bn1.running_var"])
    assert not any(k.startswith("trunk.body.layer3.1") for k in saved)  # slim: later blocks are not kept
    assert all(float(saved[f"trunk.neck.{i}.bn3.weight"].abs().max()) == 0 for i in range(2))  # neck starts at zero
    assert 0 < copied < total and total == len(saved)
    model = build_model("resnet18_layer3_slim_neck")
    assert warm_start(model, tmp_path / "start") == (total, total)
    with pytest.raises(CheckpointError, match="a training start point .*untrained head.*, not a detector"):
        Detector.load(tmp_path / "start", device="cpu")  # its head is untrained: nothing to scan with
    with pytest.raises(CheckpointError, match="a training start point"):
        load_teacher(tmp_path / "start", torch.device("cpu"))  # nor to distil from


def test_weights_of_another_backbone_are_refused_with_the_reason(tmp_path):
    torch.manual_seed(0)
    other = {k: v.contiguous() for k, v in timm.create_model("resnet34", pretrained=False).state_dict().items()}
    other["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    save_file(other, str(tmp_path / "odd.safetensors"))
    with pytest.raises(CheckpointError, match=r"odd.safetensors: not resnet18 weights under timm's names "
                                              r"\(0 of the \d+ trunk tensors missing, 1 of another shape"):
        import_backbone(tmp_path / "odd.safetensors", "resnet18_layer1", tmp_path / "out")
    save_file({"fc.weight": torch.zeros(2, 2)}, str(tmp_path / "head_only.safetensors"))
    with pytest.raises(CheckpointError, match="trunk tensors missing"):
        import_backbone(tmp_path / "head_only.safetensors", "resnet18_layer1", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="needs a ResNet patch architecture"):
        import_backbone(tmp_path / "odd.safetensors", "legacy_xception_block2", tmp_path / "out")


def test_the_command_refuses_pickles_and_damaged_files_in_one_line(resnet18_weights, photo_files, tmp_path):
    runner = CliRunner()
    (tmp_path / "model.pth").write_bytes(b"\x80\x04not really")
    res = runner.invoke(app, ["import-backbone", str(tmp_path / "model.pth"), "--arch", "resnet18_layer1",
                              "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "model.pth: a pickle file (.pth) is never loaded" in res.stderr
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00garbage")
    res = runner.invoke(app, ["import-backbone", str(tmp_path / "broken.safetensors"), "--arch", "resnet18_layer1",
                              "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "broken.safetensors" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    res = runner.invoke(app, ["import-backbone", str(resnet18_weights[0]), "--arch", "resnet18_layer2_slim",
                              "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.stderr
    assert "train from it with --init-from" in res.stdout
    assert json.loads((tmp_path / "c" / "config.json").read_text())["arch"] == "resnet18_layer2_slim"
    res = runner.invoke(app, ["scan", str(photo_files[0]), "--model", str(tmp_path / "c")])
    assert res.exit_code == 2 and "a training start point" in res.stderr and len(res.stderr.strip().splitlines()) == 1

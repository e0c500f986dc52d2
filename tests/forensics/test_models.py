import re

import pytest
import torch

from forensics.models import build_model, list_architectures, measure_geometry, parameter_count, parse_arch

REFERENCE_RF = {  # receptive fields reported by the reference study
    "resnet18_layer1": 43,
    "legacy_xception_block1": 19, "legacy_xception_block2": 43, "legacy_xception_block3": 91,
    "legacy_xception_block4": 187, "legacy_xception_block5": 283,
}


@pytest.mark.parametrize("arch,rf", sorted(REFERENCE_RF.items()))
def test_measured_receptive_field_matches_reference(arch, rf):
    assert measure_geometry(arch)[0] == rf


def test_registry_lists_all_families():
    names = list_architectures()
    for b in ("resnet18", "resnet34", "resnet50"):
        assert ([f"{b}_layer{i}" for i in range(1, 5)] + [f"{b}_layer{i}_slim" for i in range(1, 5)]
                + [f"{b}_layer{i}_slim_neck" for i in range(1, 5)] + [f"{b}_full"]
                == [n for n in names if n.startswith(b + "_")])
    for b in ("legacy_xception", "xception41"):
        assert sum(n.startswith(b + "_block") for n in names) == 5
    with pytest.raises(ValueError, match="unknown architecture"):
        parse_arch("resnet18_layer9")
    with pytest.raises(ValueError, match="unknown architecture"):
        parse_arch("xception41_block2_slim")  # slim is defined for residual stages only
    with pytest.raises(ValueError, match="unknown architecture"):
        parse_arch("resnet18_layer3_neck")  # the neck comes on the slim cut only


def test_slim_keeps_first_block_of_each_stage_and_same_output_grid():
    full, slim = build_model("resnet18_layer2"), build_model("resnet18_layer2_slim")
    assert parse_arch("resnet18_layer2_slim").slim and not parse_arch("resnet18_layer2").slim
    assert [len(slim.trunk.body.layer1), len(slim.trunk.body.layer2)] == [1, 1]
    slim_keys = set(slim.state_dict())
    assert slim_keys < set(full.state_dict())  # a subset: warm starts copy every slim tensor
    assert not any(re.search(r"layer\d\.1\.", k) for k in slim_keys)
    rf_full, stride_full, _ = full.geometry()
    rf, stride, _ = slim.geometry()
    assert stride == stride_full and rf < rf_full
    with torch.no_grad():
        assert slim.eval()(torch.randn(1, 3, 96, 64)).shape == full.eval()(torch.randn(1, 3, 96, 64)).shape


@pytest.mark.parametrize("backbone,stage_name,n", [("resnet18", "layer", 4), ("resnet50", "layer", 4),
                                                   ("legacy_xception", "block", 5), ("xception41", "block", 5)])
def test_truncation_drops_later_stages(backbone, stage_name, n):
    counts = [parameter_count(build_model(f"{backbone}_{stage_name}{i}")) for i in range(1, n + 1)]
    full = parameter_count(build_model(f"{backbone}_full"))
    assert counts == sorted(counts) and len(set(counts)) == n
    assert counts[0] < full / 10  # the first cut keeps a small fraction of the network


@pytest.mark.parametrize("arch", ["resnet18_layer1", "resnet18_layer2", "resnet18_layer2_slim",
                                  "legacy_xception_block2", "xception41_block2"])
def test_patch_output_is_fully_convolutional(arch):
    model = build_model(arch).eval()
    rf, stride, offset = model.geometry()
    assert stride in (2, 4, 8, 16) and rf > stride
    with torch.no_grad():
        a = model(torch.randn(1, 3, 96, 96))
        b = model(torch.randn(1, 3, 160, 128))
    assert a.shape[1] == 2 and a.shape[2] == 96 // stride
    assert b.shape[2:] == (160 // stride, 128 // stride)


def test_full_model_gives_one_cell():
    out = build_model("resnet18_full").eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 2, 1, 1)


def test_residual_input_filter_removes_flat_colour():
    model = build_model("resnet18_layer1", input_filter="residual")
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert model.prefilter(flat).abs().max() < 1e-6


def _check_zero_started_branch(base: torch.nn.Module, grown: torch.nn.Module, prefix: str, wake) -> None:
    """`grown` is `base` plus a branch (tensors under `prefix`) that starts at zero: given `base`'s weights it
    gives `base`'s outputs; once `wake(grown)` makes the branch non-zero it changes the logits, cell by cell,
    on the same grid; its Conv+BatchNorm pairs fold like the trunk's."""
    from forensics.fusion import fold_batchnorm

    missing, unexpected = grown.load_state_dict(base.state_dict(), strict=False)
    assert unexpected == [] and missing and all(k.startswith(prefix) for k in missing)
    base.eval()
    grown.eval()
    x = torch.rand(2, 3, 80, 56)
    with torch.no_grad():
        torch.testing.assert_close(grown(x), base(x))
        wake(grown)
        out = grown(x)
        assert out.shape == base(x).shape and not torch.allclose(out, base(x))
        folded = fold_batchnorm(grown)
        assert folded is not grown
        torch.testing.assert_close(folded(x), out, rtol=1e-4, atol=1e-4)


def test_cell_mlp_head_starts_at_zero_so_a_warm_start_keeps_the_linear_models_outputs():
    from forensics.models import build_from_config

    torch.manual_seed(0)
    linear = build_model("resnet18_layer1", "residual")
    mlp = build_from_config({"arch": "resnet18_layer1", "input_filter": "residual", "head_hidden": 16})
    _check_zero_started_branch(linear, mlp, "head_mlp.", lambda m: torch.nn.init.normal_(m.head_mlp.body[-1].weight))
    assert measure_geometry("resnet18_layer1", "residual") == mlp.geometry()  # 1x1 layers: same patches
    assert parameter_count(mlp) - parameter_count(linear) == 64 * 16 + 2 * 16 + 16 * 2 + 2


def test_cell_mlp_head_is_checked():
    with pytest.raises(ValueError, match="head_hidden must be >= 0"):
        build_model("resnet18_layer1", head_hidden=-1)
    with pytest.raises(ValueError, match="needs a patch model"):
        build_model("resnet18_full", head_hidden=8)


def test_neck_starts_as_the_identity_so_a_warm_start_keeps_the_slim_models_outputs():
    spec = parse_arch("resnet18_layer2_slim_neck")
    assert spec.slim and spec.neck and spec.stage == 2 and not parse_arch("resnet18_layer2_slim").neck
    torch.manual_seed(0)
    slim = build_model("resnet18_layer2_slim", "residual")
    neck = build_model("resnet18_layer2_slim_neck", "residual")
    assert len(neck.trunk.neck) == 2 and neck.trunk.neck[0].conv2.in_channels == 64  # 128 channels, half wide

    def wake(model):
        for block in model.trunk.neck:
            torch.nn.init.normal_(block.bn3.weight)

    _check_zero_started_branch(slim, neck, "trunk.neck.", wake)
    rf, stride, _ = neck.geometry()
    slim_rf, slim_stride, _ = slim.geometry()
    assert stride == slim_stride == 8 and rf == slim_rf + 2 * 2 * stride  # two 3x3 convs at the cells' stride


def test_warm_start_from_a_saved_slim_detector_copies_all_but_the_neck(tmp_path):
    from forensics.checkpoint import save_checkpoint
    from forensics.training.train import warm_start

    slim = build_model("resnet18_layer1_slim", "residual")
    save_checkpoint(tmp_path, slim.state_dict(), {"arch": "resnet18_layer1_slim", "input_filter": "residual"})
    neck = build_model("resnet18_layer1_slim_neck", "residual")
    copied, total = warm_start(neck, tmp_path)
    assert copied == len(slim.state_dict()) and total - copied == sum(1 for k in neck.state_dict() if ".neck." in k)

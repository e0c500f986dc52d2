"""Safe model loading (issue 7): only safetensors + JSON, pickles refused (and never executed), configs
validated, paths confined to the model directory. Complements tests/forensics/test_checkpoint.py
(round trip, .pt file, unknown architecture, architecture mismatch, NaN, '../' weights, corrupt files).
Detector checkpoints (forensics/checkpoint.py) and generator weights (generators/base.py)."""
from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from forensics import Detector
from forensics.checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, save_checkpoint
from forensics.models import build_model

ARCH = "resnet18_layer1"


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def good_state():
    return build_model(ARCH).state_dict()


@pytest.fixture()
def model_dir(tmp_path, good_state):
    return save_checkpoint(tmp_path / "m", good_state, {"arch": ARCH, "threshold": 0.5})


def _edit_config(d: Path, **changes) -> None:
    cfg = json.loads((d / CONFIG_NAME).read_text())
    for k, v in changes.items():
        if v is _DELETE:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (d / CONFIG_NAME).write_text(json.dumps(cfg))


_DELETE = object()


# ------------------------------------------------------------------ pickles are never executed
def _evil_pickle(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": _Payload(marker)}, path)
    assert not marker.exists()
    return path


def test_malicious_pickle_is_never_unpickled_by_detector_loading(tmp_path, model_dir):
    marker = tmp_path / "PWNED"
    evil = _evil_pickle(tmp_path / "model.pt", marker)
    # 1) the pickle itself
    with pytest.raises(CheckpointError, match="pickle.*arbitrary code"):
        Detector.load(evil)
    # 2) a directory holding only pickles: the message says why nothing was loaded
    only = tmp_path / "only_pickles"
    only.mkdir()
    shutil.copy(evil, only / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"only pickle-based checkpoints \(pytorch_model.bin\)"):
        Detector.load(only)
    # 3) a config pointing at a pickle inside the model directory
    shutil.copy(evil, model_dir / "weights.pt")
    _edit_config(model_dir, weights="weights.pt")
    with pytest.raises(CheckpointError, match=r"must be a \.safetensors file.*pickle"):
        Detector.load(model_dir)
    # 4) a pickle renamed to model.safetensors: parsed as safetensors (fails), never unpickled
    _edit_config(model_dir, weights=WEIGHTS_NAME)
    shutil.copy(evil, model_dir / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        Detector.load(model_dir)
    assert not marker.exists()


def test_cli_refuses_pickle_model_in_one_line(tmp_path, photo_files):
    from typer.testing import CliRunner

    from forensics.cli.main import app

    marker = tmp_path / "PWNED"
    evil = _evil_pickle(tmp_path / "detector.pth", marker)
    res = CliRunner().invoke(app, ["scan", "--model", str(evil), str(photo_files[0])])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "pickle" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()


# ------------------------------------------------------------------ config validation
@pytest.mark.parametrize("changes, message", [
    ({"format": "something-else"}, "not a forensics detector config"),
    ({"format_version": 99}, "unsupported format_version 99"),
    ({"arch": 42}, "'arch' must be an architecture name"),
    ({"arch": _DELETE}, "'arch' must be an architecture name"),
    ({"input_filter": "sharpen"}, "unknown input filter 'sharpen'"),
    ({"aggregation": "median"}, "'aggregation' is 'median'"),
    ({"topk_fraction": 0}, "'topk_fraction' must be a number in"),
    ({"score_scaling": "platt"}, "'score_scaling' must be an object or null"),
    ({"score_scaling": {"slope": 0, "intercept": 0}}, "'slope' must be a number in"),
    ({"score_scaling": {"slope": 1.0, "intercept": float("inf")}}, "'intercept' must be a number in"),
    ({"threshold": 1.5}, "'threshold' must be a number in"),
    ({"threshold": float("nan")}, "'threshold' must be a number in"),   # JSON NaN literal
    ({"temperature": 0}, "'temperature' must be a number in"),
    ({"preprocessing": {"std": [0.5, 0.0, 0.5]}}, r"preprocessing.std must be 3 finite numbers"),
    ({"preprocessing": {"mean": [0.5, 0.5]}}, r"preprocessing.mean must be 3 finite numbers"),
    ({"preprocessing": {"mean": [0.5, float("inf"), 0.5]}}, r"preprocessing.mean must be 3 finite numbers"),
    # values that would hang scanning (tile 0 / overlap >= tile) or allocate without bound (min_side)
    ({"preprocessing": {"tile": 0}}, r"preprocessing.'tile' must be an integer"),
    ({"preprocessing": {"tile": 512, "tile_overlap": 512}}, r"preprocessing.'tile_overlap' must be an integer"),
    ({"preprocessing": {"min_side": 10 ** 9}}, r"preprocessing.'min_side' must be an integer"),
    ({"preprocessing": "fast"}, "'preprocessing' must be an object"),
    ({"weights": "/etc/passwd"}, "escapes the model directory"),
    ({"weights": "sub/../../x.safetensors"}, "escapes the model directory"),
    ({"weights": 7}, "escapes the model directory"),
    ({"weights": "model.npz"}, r"must be a \.safetensors file"),
], ids=["format", "format_version", "arch_type", "arch_missing", "input_filter", "aggregation", "topk_fraction_zero",
        "scaling_type", "scaling_slope_zero", "scaling_intercept_inf",
        "threshold_range",
        "threshold_nan", "temperature_zero", "std_zero", "mean_len", "mean_inf", "tile_zero", "overlap_ge_tile",
        "min_side_huge", "preprocessing_type", "weights_absolute", "weights_dotdot", "weights_type",
        "weights_not_safetensors"])
def test_config_fields_are_validated(model_dir, changes, message):
    _edit_config(model_dir, **changes)
    with pytest.raises(CheckpointError, match=message):
        Detector.load(model_dir, device="cpu")


def test_config_json_that_is_not_an_object_huge_or_deeply_nested(model_dir):
    cfg = model_dir / CONFIG_NAME
    cfg.write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match="must be a JSON object"):
        Detector.load(model_dir)
    cfg.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="invalid JSON"):
        Detector.load(model_dir)
    with open(cfg, "wb") as fh:  # sparse: 17 MiB of nothing
        fh.truncate(17 * 1024 * 1024)
    with pytest.raises(CheckpointError, match="over the limit"):
        Detector.load(model_dir)
    cfg.write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(CheckpointError, match="invalid JSON"):
        Detector.load(model_dir)


def test_tensor_with_wrong_shape_same_names(model_dir, good_state):
    state = dict(good_state)
    state["head.weight"] = torch.zeros(3, *good_state["head.weight"].shape[1:])
    save_file({k: v.contiguous() for k, v in state.items()}, str(model_dir / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match=r"'head.weight' has shape \(3,"):
        Detector.load(model_dir)


def test_infinite_weights_refused(tmp_path, good_state):
    state = dict(good_state)
    state["head.bias"] = torch.tensor([float("inf"), 0.0])
    d = save_checkpoint(tmp_path / "inf", state, {"arch": ARCH})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        Detector.load(d)


def test_safetensors_header_lying_about_its_size(model_dir):
    # an 8-byte header length of ~1 EiB: refused without allocating it
    (model_dir / WEIGHTS_NAME).write_bytes(struct.pack("<Q", 1 << 60) + b"{}")
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        Detector.load(model_dir)


# ------------------------------------------------------------------ paths stay inside the model directory
def test_symlinked_weights_pointing_outside_are_refused(tmp_path, model_dir):
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(model_dir / WEIGHTS_NAME, outside)
    os.symlink(outside, model_dir / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match="escapes the model directory"):
        Detector.load(model_dir)


def test_weights_in_a_subfolder_inside_are_fine(model_dir):
    (model_dir / "w").mkdir()
    shutil.move(model_dir / WEIGHTS_NAME, model_dir / "w" / "detector.safetensors")
    _edit_config(model_dir, weights="w/detector.safetensors")
    assert Detector.load(model_dir, device="cpu").config["weights"] == "w/detector.safetensors"


def test_special_files_do_not_block_loading(model_dir):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (model_dir / WEIGHTS_NAME).unlink()
    os.mkfifo(model_dir / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match="weights file missing"):
        Detector.load(model_dir)
    (model_dir / CONFIG_NAME).unlink()
    os.mkfifo(model_dir / CONFIG_NAME)
    with pytest.raises(CheckpointError, match="no config.json"):
        Detector.load(model_dir)


# ------------------------------------------------------------------ generators (generators/base.py)
@pytest.fixture()
def gen_dir(tmp_path):
    from generators import create_generator

    g = create_generator("dcgan", resolution=16, g_width=8, d_width=8)
    return g.save(tmp_path / "gen")


def _edit_gen_config(d: Path, fn) -> None:
    meta = json.loads((d / "config.json").read_text())
    fn(meta)
    (d / "config.json").write_text(json.dumps(meta))


def test_generator_round_trip(gen_dir):
    from generators import load_generator

    g = load_generator(gen_dir)
    assert g.sample(2, seed=0).shape[0] == 2


def test_generator_pickles_refused_and_never_executed(tmp_path, gen_dir):
    from generators import load_generator

    marker = tmp_path / "PWNED"
    evil = _evil_pickle(tmp_path / "generator.pt", marker)
    with pytest.raises(ValueError, match="pickled checkpoints"):
        load_generator(evil)
    only = tmp_path / "only_pickles"
    only.mkdir()
    shutil.copy(evil, only / "model.pkl")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        load_generator(only)
    shutil.copy(evil, gen_dir / "model.safetensors")  # a pickle disguised as safetensors
    with pytest.raises(Exception) as info:
        load_generator(gen_dir)
    assert "pickle" not in type(info.value).__name__.lower()
    assert not marker.exists()


def test_generator_unknown_family_and_wrong_shapes(gen_dir, tmp_path):
    from generators import load_generator

    bad = tmp_path / "fam"
    shutil.copytree(gen_dir, bad)
    _edit_gen_config(bad, lambda m: m.update(family="evilgan"))
    with pytest.raises(Exception, match="unknown generator 'evilgan'"):
        load_generator(bad)
    _edit_gen_config(gen_dir, lambda m: m["config"].update(g_width=16))
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_generator(gen_dir)


def test_generator_extra_tensors_refused(gen_dir):
    from generators import load_generator

    state = load_file(str(gen_dir / "model.safetensors"))
    state["injected"] = torch.zeros(1)
    save_file(state, str(gen_dir / "model.safetensors"))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_generator(gen_dir)


def test_generator_nan_weights_refused(gen_dir):
    from generators import load_generator

    state = load_file(str(gen_dir / "model.safetensors"))
    k = next(k for k, v in state.items() if v.is_floating_point())
    state[k] = torch.full_like(state[k], float("nan"))
    save_file(state, str(gen_dir / "model.safetensors"))
    with pytest.raises(Exception, match="(?i)nan|finite"):
        load_generator(gen_dir)


def test_generator_symlinked_weights_outside_refused(gen_dir, tmp_path):
    from generators import load_generator

    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(gen_dir / "model.safetensors", outside)
    os.symlink(outside, gen_dir / "model.safetensors")
    with pytest.raises(Exception, match="(?i)outside|escape"):
        load_generator(gen_dir)


@pytest.mark.parametrize("field, value", [("resolution", -5), ("g_width", "8")])
def test_generator_config_values_validated(gen_dir, field, value):
    from generators import load_generator

    _edit_gen_config(gen_dir, lambda m: m["config"].update({field: value}))
    with pytest.raises(ValueError, match=field):
        load_generator(gen_dir)

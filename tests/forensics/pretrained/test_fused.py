"""A fused detector end to end: real patch model, real CLIP encoder, a probe written to disk."""
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from forensics.detector import Detector
from forensics.pretrained import clip_file
from forensics.pretrained.combiner import Combiner, sigmoid
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.fused import BRANCH_MISSING_PREFIX
from forensics.pretrained.probe import LinearProbe

SPEC = FeatureSpec((3,), (3,), "resize224")


@pytest.fixture()
def fused_dir(tmp_path):
    """A fused model folder over the shipped patch model, with a probe of small random weights."""
    rng = np.random.default_rng(0)
    d = tmp_path / "fused"
    d.mkdir()
    LinearProbe(SPEC, np.zeros(SPEC.dim, np.float32), np.full(SPEC.dim, 4.0, np.float32),
                rng.normal(scale=0.05, size=SPEC.dim).astype(np.float32), 0.1).save(d / "probe.safetensors")
    cfg = {"format": "forensics-fused", "format_version": 1, "model_id": "fused-test", "patch_model": "patch",
           "clip": {"features": SPEC.to_dict(), "probe": "probe.safetensors"},
           "combiner": {"w_clip": 1.0, "w_patch": 0.5, "bias": -0.2}, "threshold": 0.9, "real_below": 0.2}
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_records_keep_each_branch_and_fuse_them(fused_dir, photo_files, clip_path):
    det = Detector.load(fused_dir, device="cpu", clip=clip_path)
    assert det.branch is not None and det.model_id == "fused-test" and det.threshold == 0.9
    recs = list(det.scan_many(photo_files[:3], batch_size=3, provenance=False))
    for r in recs:
        patch, clip = r.branches["patch"], r.branches["clip"]
        assert patch["model"] == det.patch_model_id and 0 <= patch["score"] <= 1
        want = sigmoid(Combiner(1.0, 0.5, -0.2).logit(clip["logit"], patch["score"]))
        assert r.score == pytest.approx(float(want), abs=2e-4)
        x0, y0, x1, y1 = clip["max_token_box"]
        assert 0 <= x0 < x1 <= r.width and 0 <= y0 < y1 <= r.height
        assert r.label == det.verdict(r.score)
    # a record does not depend on the batch it was scored in
    alone = det.scan(photo_files[1], provenance=False)
    assert alone.score == recs[1].score and alone.branches == recs[1].branches
    # the heatmap stays the patch model's
    assert det.heatmap(photo_files[0]).shape == Detector.load("patch", device="cpu").heatmap(photo_files[0]).shape


def _with_kind(fused_dir, intercept: float, offset: float) -> None:
    """Give the fused folder a kind probe that recognises every image (intercept > 0) or none."""
    LinearProbe(SPEC, np.zeros(SPEC.dim, np.float32), np.ones(SPEC.dim, np.float32), np.zeros(SPEC.dim, np.float32),
                intercept).save(fused_dir / "kind_thermal.safetensors")
    cfg = json.loads((fused_dir / "config.json").read_text())
    cfg["kinds"] = [{"name": "thermal", "members": ["infrared"], "probe": "kind_thermal.safetensors", "offset": offset}]
    (fused_dir / "config.json").write_text(json.dumps(cfg))


def test_a_recognised_kind_is_judged_with_its_offset_and_says_so(fused_dir, photo_files, clip_path):
    plain = Detector.load(fused_dir, device="cpu", clip=clip_path).scan(photo_files[0], provenance=False)
    assert "kind" not in plain.branches["clip"]
    _with_kind(fused_dir, 5.0, -3.0)
    det = Detector.load(fused_dir, device="cpu", clip=clip_path)
    assert [k.name for k in det.kinds] == ["thermal"] and det.describe()["fused"]["kinds"] == [
        {"name": "thermal", "offset": -3.0}]
    r = det.scan(photo_files[0], provenance=False)
    clip = r.branches["clip"]
    assert clip["kind"] == "thermal" and clip["kind_logits"] == {"thermal": 5.0} and clip["kind_offset"] == -3.0
    assert clip["score"] == plain.branches["clip"]["score"] and r.branches["patch"] == plain.branches["patch"]
    want = sigmoid(Combiner(1.0, 0.5, -0.2).logit(clip["logit"], r.branches["patch"]["score"]) - 3.0)
    assert r.score == pytest.approx(float(want), abs=2e-4) and r.score < plain.score
    from typer.testing import CliRunner

    from forensics.cli.main import app

    res = CliRunner().invoke(app, ["scan", "--exit-zero", "--model", str(fused_dir), "--clip", str(clip_path),
                                   str(photo_files[0])])
    assert res.exit_code == 0 and "judged as a thermal image" in res.stdout
    _with_kind(fused_dir, -5.0, -3.0)  # not recognised: the plain fused score
    r = Detector.load(fused_dir, device="cpu", clip=clip_path).scan(photo_files[0], provenance=False)
    assert r.branches["clip"]["kind"] is None and r.branches["clip"]["kind_offset"] == 0.0 and r.score == plain.score


def test_a_kind_with_an_expert_moves_the_clip_logit_toward_it_and_records_both(fused_dir, photo_files, clip_path):
    plain = Detector.load(fused_dir, device="cpu", clip=clip_path).scan(photo_files[0], provenance=False)
    _with_kind(fused_dir, 5.0, 0.5)
    # the expert: a constant logit of 3, half way from the general probe's logit
    LinearProbe(SPEC, np.zeros(SPEC.dim, np.float32), np.ones(SPEC.dim, np.float32), np.zeros(SPEC.dim, np.float32),
                3.0).save(fused_dir / "kind_thermal_expert.safetensors")
    cfg = json.loads((fused_dir / "config.json").read_text())
    cfg["kinds"][0]["expert"] = {"probe": "kind_thermal_expert.safetensors", "weight": 0.5}
    (fused_dir / "config.json").write_text(json.dumps(cfg))
    r = Detector.load(fused_dir, device="cpu", clip=clip_path).scan(photo_files[0], provenance=False)
    clip = r.branches["clip"]
    general = plain.branches["clip"]["logit"]
    assert clip["general_logit"] == pytest.approx(general, abs=1e-4) and clip["expert_logit"] == 3.0
    assert clip["logit"] == pytest.approx(general + 0.5 * (3.0 - general), abs=2e-4)
    want = sigmoid(Combiner(1.0, 0.5, -0.2).logit(clip["logit"], r.branches["patch"]["score"]) + 0.5)
    assert r.score == pytest.approx(float(want), abs=2e-4)
    # an expert file outside the folder is refused before anything loads
    cfg["kinds"][0]["expert"]["probe"] = "../kind_thermal_expert.safetensors"
    (fused_dir / "config.json").write_text(json.dumps(cfg))
    from forensics.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=r"kinds\[\]\.expert\.probe must name a .safetensors file inside"):
        Detector.load(fused_dir, device="cpu", clip=clip_path)


def test_a_malformed_kind_is_a_checkpoint_error_naming_the_folder(fused_dir, clip_path):
    from forensics.checkpoint import CheckpointError

    _with_kind(fused_dir, 5.0, float("inf"))
    with pytest.raises(CheckpointError, match="finite offset"):
        Detector.load(fused_dir, device="cpu", clip=clip_path)
    cfg = json.loads((fused_dir / "config.json").read_text())
    for bad in ("../kind_thermal.safetensors", "kind_thermal.pt"):  # outside the folder, or not safetensors
        cfg["kinds"] = [{"name": "thermal", "probe": bad, "offset": -1.0}]
        (fused_dir / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(CheckpointError, match=r"kinds\[\]\.probe must name a .safetensors file inside"):
            Detector.load(fused_dir, device="cpu", clip=clip_path)
    _with_kind(fused_dir, 5.0, -1.0)
    (fused_dir / "kind_thermal.safetensors").unlink()
    with pytest.raises(CheckpointError, match="kind_thermal.safetensors: the probe of kind 'thermal' is missing"):
        Detector.load(fused_dir, device="cpu", clip=clip_path)


def test_without_the_encoder_file_it_says_so_and_scores_with_the_patch_model(fused_dir, photo_files, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv(clip_file.ENV_VAR, str(tmp_path / "nowhere.onnx"))
    det = Detector.load(fused_dir, device="cpu")
    patch = Detector.load("patch", device="cpu")
    assert det.branch is None and det.branch_note.startswith(BRANCH_MISSING_PREFIX)
    r = det.scan(photo_files[0], provenance=False)
    assert r.score == patch.scan(photo_files[0], provenance=False).score
    assert r.threshold == patch.threshold and r.branches["clip"] is None
    assert any(n.startswith(BRANCH_MISSING_PREFIX) and "fetch-clip" in n for n in r.notes)

    from typer.testing import CliRunner

    from forensics.cli.main import app

    res = CliRunner().invoke(app, ["scan", "--exit-zero", "--model", str(fused_dir), str(photo_files[0])])
    assert res.exit_code == 0
    assert "warning: pretrained branch unavailable" in res.stderr and "forensics fetch-clip" in res.stderr


def test_profiles_are_the_fused_calibrations_and_the_patch_models_only_without_the_branch(
        fused_dir, clip_path, tmp_path, monkeypatch):
    cfg = json.loads((fused_dir / "config.json").read_text())
    cfg["calibration"] = {"profiles": {"photos": {"threshold": 0.8, "sources": ["a"], "what": "photos"}}}
    (fused_dir / "config.json").write_text(json.dumps(cfg))
    patch = Detector.load("patch", device="cpu")
    assert "portraits" in patch.threshold_profiles()
    det = Detector.load(fused_dir, device="cpu", clip=clip_path)
    # the patch model's portrait threshold is a patch score: it must not become a fused verdict threshold
    assert det.threshold_profiles() == {"photos": 0.8}
    det.use_profile("photos")
    assert det.threshold == 0.8
    with pytest.raises(ValueError, match="portraits"):
        det.use_profile("portraits")
    monkeypatch.setenv(clip_file.ENV_VAR, str(tmp_path / "nowhere.onnx"))
    alone = Detector.load(fused_dir, device="cpu")  # the verdict falls back to the patch score
    assert alone.branch is None and alone.threshold_profiles() == patch.threshold_profiles()


def test_three_verdicts_from_the_bands():
    det = Detector.load("patch", device="cpu")
    det.threshold, det.real_below = 0.9, 0.3
    assert [det.verdict(s) for s in (0.1, 0.3, 0.5, 0.9, 0.99)] == ["real", "uncertain", "uncertain", "fake", "fake"]
    det.threshold = 0.2  # a --threshold under the band: nothing is uncertain
    assert [det.verdict(s) for s in (0.1, 0.25)] == ["real", "fake"]
    det.real_below = None
    assert det.verdict(0.19) == "real"


def test_a_file_that_declares_it_was_generated_is_flagged(tmp_path, photos):
    rgb = next(iter(photos.values()))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "
                                "Size: 512x512, Model: v1-5")
    path = tmp_path / "generated.png"
    Image.fromarray(rgb).save(path, pnginfo=info)
    plain = tmp_path / "plain.png"
    Image.fromarray(rgb).save(plain)
    det = Detector.load("patch", device="cpu")
    flagged, same = det.scan(path, provenance=True), det.scan(plain, provenance=True)
    assert flagged.label == "fake" and flagged.score == same.score  # the pixel score stays what it is
    assert any(n.startswith("provenance:") and "png_parameters" in n for n in flagged.notes)
    assert same.label != "fake" or same.score >= det.threshold

    from typer.testing import CliRunner

    from forensics.cli.main import app

    res = CliRunner().invoke(app, ["scan", "--model", "patch", str(path)])
    assert res.exit_code == 1 and "\tFAKE\t" in res.stdout and "note: provenance:" in res.stdout

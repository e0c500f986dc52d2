"""`forensics scan` through the real console script: exit codes, JSON records, heatmaps."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRED = {"path", "score", "label", "threshold", "model", "width", "height", "sha256", "error"}


def run(*args):
    """Invoke the real typer app in-process (CliRunner): real files, real model, separate stderr."""
    from typer.testing import CliRunner

    from forensics.cli.main import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)


def test_console_script_runs_as_a_process(photo_files):
    r = subprocess.run([sys.executable, "-m", "forensics", "scan", "--json", "--exit-zero", str(photo_files[0])],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == str(photo_files[0])


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("forensics ")


def test_scan_json_shape_and_exit_code(photo_files, tmp_path):
    r = run("scan", "--json", "--heatmap-dir", tmp_path / "hm", *photo_files[:2])
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 2
    for rec in recs:
        assert REQUIRED <= set(rec) and rec["label"] in ("real", "uncertain", "fake") and 0 <= rec["score"] <= 1
        assert rec["error"] is None and rec["heatmap"]["overlay"].endswith(".png")
    flagged = any(rec["label"] == "fake" for rec in recs)
    assert r.returncode == (1 if flagged else 0)
    assert len(list((tmp_path / "hm").glob("*.png"))) == 2


def test_threshold_controls_verdict_and_exit_zero(photo_files):
    r = run("scan", "--threshold", "0", photo_files[0])
    assert r.returncode == 1 and "FAKE" in r.stdout
    r = run("scan", "--threshold", "0", "--exit-zero", photo_files[0])
    assert r.returncode == 0
    r = run("scan", "--threshold", "1", photo_files[0])
    assert r.returncode == 0 and "\tFAKE\t" not in r.stdout and ("\tREAL\t" in r.stdout or "\tUNCERTAIN\t" in r.stdout)


def test_bad_inputs_error_lines_and_exit_codes(photo_files, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(photo_files[0].read_bytes()[:200])
    r = run("scan", "--json", "--threshold", "1", bad, tmp_path / "missing.png", tmp_path, photo_files[0])
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["label"] for x in recs][:3] == ["error", "error", "error"]
    assert recs[3]["label"] in ("real", "uncertain")
    assert all(x["error"] and "\n" not in x["error"] for x in recs[:3])
    assert "Traceback" not in r.stderr and str(bad) in r.stderr
    assert r.returncode == 0  # one image could be read and none was flagged
    r = run("scan", bad, tmp_path / "missing.png")
    assert r.returncode == 2 and r.stderr.count("error:") == 2


def test_unknown_model_is_usage_error(photo_files):
    r = run("scan", "--model", "nope", photo_files[0])
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("cmd", [["models"], ["models", "--json"]])
def test_models_lists_architectures_and_weights(cmd):
    r = run(*cmd)
    assert r.returncode == 0 and "resnet18_layer1" in r.stdout and "default" in r.stdout


def test_both_shipped_models_scan_and_are_listed(photo_files):
    """`--model fast` is a shipped model of its own (another architecture, its own threshold)."""
    from forensics.detector import shipped_models

    assert {"patch", "fast"} <= set(shipped_models())
    a, b = run("scan", "--json", "--model", "patch", photo_files[0]), run("scan", "--json", "--model", "fast", photo_files[0])
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["model"] != rb["model"] and ra["threshold"] != rb["threshold"]
    listed = {d["name"]: d for d in json.loads(run("models", "--json").stdout)["detectors"]}
    assert listed["fast"]["model_id"] == rb["model"] and listed["patch"]["model_id"] == ra["model"]
    assert listed["fast"]["arch"] != listed["patch"]["arch"]
    for name, d in listed.items():  # each patch model lists the image-score rule its scores are made with
        if d["kind"] == "fused":  # a fused model says which CLIP graph it runs
            cfg = json.loads((shipped_models()[name] / "config.json").read_text())
            assert d["clip_precision"] == cfg["clip"].get("precision", "int8")
            # and the kinds of picture it judges against their own photos (forensics.pretrained.kinds)
            assert d["kinds"] == [{"name": k["name"], "offset": k["offset"],
                                   "expert_weight": (k.get("expert") or {}).get("weight")} for k in cfg.get("kinds") or []]
            text = run("models").stdout
            for k in cfg.get("kinds") or []:  # the listing says how each kind is judged
                assert f"{k['name']} images judged with" in text
                if k.get("expert"):
                    assert f"to a {k['name']} expert probe" in text
            continue
        cfg = json.loads((shipped_models()[name] / "config.json").read_text())
        assert d["aggregation"].split(":")[0] == cfg.get("aggregation", "mean_prob")


def _calibrated_near(detector, score: float, model_dir):
    """A copy of the default whose per-source calibration puts `score` just under the threshold that
    one source sets and over the one every other source sets."""
    import shutil

    from forensics.checkpoint import read_config

    shutil.copytree(detector.source, model_dir)
    cfg = read_config(model_dir)
    strict = round(score + (1.0 - score) / 2, 6)
    cfg.update(threshold=strict, calibration={"rule": "max over real sources", "per_source_threshold": {
        "real:strict": strict, "real:other": round(score / 2, 6)}})
    (model_dir / "config.json").write_text(json.dumps(cfg))
    return strict


def test_scan_marks_a_real_verdict_near_threshold(detector, photo_files, tmp_path):
    score = detector.scan(photo_files[0], provenance=False).score
    assert score < 1.0
    strict = _calibrated_near(detector, score, tmp_path / "model")
    plain = run("scan", "--model", tmp_path / "model", photo_files[0], photo_files[1])
    first, second = [line for line in plain.stdout.splitlines() if not line.startswith("  note: ")]
    assert "\tREAL\t" in first and first.endswith("near threshold") and plain.returncode == 0
    assert f"(threshold {strict:.3f})" in first
    # the notes the JSON record carries are shown under the verdict line
    assert "  note: near threshold:" in plain.stdout
    rec = json.loads(run("scan", "--json", "--model", tmp_path / "model", photo_files[0]).stdout)
    assert rec["label"] == "real" and rec["threshold"] == strict
    assert any(n.startswith("near threshold:") and "real:strict" in n for n in rec["notes"])
    # an explicit --threshold is not the calibrated one: no mark
    other = run("scan", "--model", tmp_path / "model", "--threshold", 0.999999, photo_files[0])
    assert "near threshold" not in other.stdout


def test_scan_marks_a_fake_verdict_on_a_rendered_graphic(tmp_path):
    import shutil

    import skimage

    wheel = tmp_path / "wheel.png"
    shutil.copy(Path(skimage.__file__).parent / "data" / "color.png", wheel)
    plain = run("scan", "--model", "patch", wheel)  # the patch model calls this colour wheel fake
    verdict = [line for line in plain.stdout.splitlines() if not line.startswith("  note: ")]
    assert "\tFAKE\t" in verdict[0] and verdict[0].endswith("looks rendered, not photographed")
    assert "  note: looks rendered:" in plain.stdout
    rec = json.loads(run("scan", "--json", "--model", "patch", wheel).stdout)
    assert rec["label"] == "fake" and any(n.startswith("looks rendered:") for n in rec["notes"])


def _with_profiles(detector, model_dir, profiles):
    """A copy of the default whose calibration record carries these threshold profiles."""
    import shutil

    from forensics.checkpoint import read_config

    shutil.copytree(detector.source, model_dir)
    cfg = read_config(model_dir)
    cfg["calibration"] = {**(cfg.get("calibration") or {}), "profiles": profiles}
    (model_dir / "config.json").write_text(json.dumps(cfg))


def test_profile_sets_the_verdict_threshold_and_unknown_or_clashing_ones_fail(detector, photo_files, tmp_path):
    score = detector.scan(photo_files[0], provenance=False).score
    low = round(score / 2, 6)
    _with_profiles(detector, tmp_path / "model", {"portraits": {"threshold": low, "sources": ["real:a"]}})
    rec = json.loads(run("scan", "--json", "--model", tmp_path / "model", "--profile", "portraits",
                         photo_files[0]).stdout)
    assert rec["label"] == "fake" and rec["threshold"] == low and rec["score"] == score
    assert run("scan", "--model", tmp_path / "model", "--profile", "portraits", photo_files[0]).returncode == 1
    unknown = run("scan", "--model", tmp_path / "model", "--profile", "landscapes", photo_files[0])
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "no threshold profile 'landscapes' (profiles: portraits)" in unknown.stderr
    both = run("scan", "--model", tmp_path / "model", "--profile", "portraits", "--threshold", 0.5, photo_files[0])
    assert both.returncode == 2 and "--threshold and --profile" in both.stderr


def test_a_config_with_a_broken_profile_fails_to_load_with_one_line(detector, photo_files, tmp_path):
    _with_profiles(detector, tmp_path / "model", {"portraits": {"threshold": 1.5}})
    r = run("scan", "--model", tmp_path / "model", photo_files[0])
    assert r.returncode == 2
    assert "calibration.profiles.portraits.threshold' must be a number in [0.0, 1.0], got 1.5" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_shipped_default_has_a_portrait_profile_below_its_threshold_and_lists_it(photo_files):
    """The card publishes `portraits` with the default (the strictest threshold of the face sources)."""
    from forensics.detector import shipped_models

    cfg = json.loads((shipped_models()["patch"] / "config.json").read_text())
    portraits = cfg["calibration"]["profiles"]["portraits"]
    face_thresholds = [cfg["calibration"]["per_source_threshold"][s] for s in portraits["sources"]]
    assert portraits["threshold"] == max(face_thresholds) < cfg["threshold"]
    rec = json.loads(run("scan", "--json", "--exit-zero", "--model", "patch", "--profile", "portraits",
                         photo_files[0]).stdout)
    assert rec["threshold"] == portraits["threshold"]
    listed = {d["name"]: d for d in json.loads(run("models", "--json").stdout)["detectors"]}
    assert listed["patch"]["threshold_profiles"] == {"portraits": portraits["threshold"]}
    assert f"--profile portraits: {portraits['threshold']}" in run("models").stdout

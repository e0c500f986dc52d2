"""Training and evaluation on folders holding the hostile corpus: bad files are skipped with a one-line
warning naming the file and the reason, good ones are used, the run finishes (issue 7)."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from forensics.data import in_validation
from tests.forensics.reliability.corpus import folder_cases

WARNING = re.compile(r"^warning: skipping unreadable (training|validation|evaluation) file (.+?): (.+)$")
BAD_FAKES = ("zero_byte.jpg", "text.png", "bomb.png", "png_truncated_20.png", "pipe.png")


def _fake_folder(root, tmp_path):
    """Noise PNGs (the 'fakes') plus a few corpus files that cannot be decoded."""
    d = tmp_path / "fakes"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (40 + i, 56, 3), dtype=np.uint8)).save(d / f"noise_{i}.png")
    for name in BAD_FAKES:
        src = root / "folder" / name
        if name == "pipe.png":
            os.mkfifo(d / name)
        else:
            shutil.copyfile(src, d / name)
    return d


def _warnings(stderr: str) -> list[tuple[str, str, str]]:
    out = []
    for line in stderr.splitlines():
        m = WARNING.match(line)
        if m:
            out.append(m.groups())
    return out


def test_train_on_corpus_folder(corpus, tmp_path, capfd):
    from forensics import Detector
    from forensics.training.train import TrainConfig, train

    root, cases = corpus
    fakes = _fake_folder(root, tmp_path)
    by_path = {str(c.path): c for c in folder_cases(cases)}
    cfg = TrainConfig(real=[str(root / "folder")], fake=[str(fakes)], out=str(tmp_path / "run"),
                      arch="resnet18_layer1", epochs=1, steps_per_epoch=3, batch_size=4, size=32, val_size=32,
                      val_fraction=0.5, workers=0, progress=False, device="cpu", seed=3)
    run = train(cfg)
    err = capfd.readouterr().err
    assert "Traceback" not in err
    hist = json.loads((run / "metrics.json").read_text())["history"]
    assert len(hist) == 1 and math.isfinite(hist[0]["train_loss"])
    Detector.load(run, device="cpu")  # the run directory is a loadable model
    warned = _warnings(err)
    assert warned, "no file was reported as skipped"
    for kind, path, reason in warned:
        case = by_path.get(path)
        if case is None:  # one of the bad fakes
            assert path.rsplit("/", 1)[-1] in BAD_FAKES, path
            continue
        assert case.is_error, f"{case.name} was decodable but warned about: {reason}"
        assert case.reason.lower() in reason.lower(), (case.name, reason)
    # validation: every unreadable real file of the validation split is warned about and left out
    # of the metrics; every readable one is counted
    val = [c for c in folder_cases(cases) if not c.directory and in_validation(c.path, 0.5)]
    val_bad = {str(c.path) for c in val if c.is_error}
    assert val_bad <= {p for k, p, _ in warned if k == "validation"}
    per_source = hist[0]["per_source"]
    assert per_source["real:folder"]["n"] == sum(not c.is_error for c in val)


def _unreadable_folder(cases, bad: Path) -> Path:
    """A folder holding copies of every corpus file that must give an error record."""
    bad.mkdir()
    for c in folder_cases(cases):
        if c.is_error and c.path.is_file() and not c.path.is_symlink():
            shutil.copyfile(c.path, bad / c.path.name)
    return bad


def test_cli_train_with_only_unreadable_real_files_fails_cleanly(corpus, tmp_path):
    """When every file of a class is unreadable, training stops with one line (exit 2), no hang."""
    from typer.testing import CliRunner

    from forensics.cli.main import app

    root, cases = corpus
    bad = _unreadable_folder(cases, tmp_path / "bad")
    good = _fake_folder(root, tmp_path)
    res = CliRunner().invoke(app, ["train", "--real", str(bad), "--fake", str(good), "--val-real", str(good),
                                   "--val-fake", str(good), "--out", str(tmp_path / "run"), "--epochs", "1",
                                   "--steps-per-epoch", "2", "--batch-size", "2", "--size", "32", "--workers", "0",
                                   "--device", "cpu", "--quiet"])
    assert res.exit_code == 2, (res.exception, res.stderr)
    assert "Traceback" not in res.stderr
    assert "error: no readable real training images" in res.stderr
    assert res.stderr.count("warning: skipping unreadable training file") == len(list(bad.iterdir()))


def test_cli_eval_on_corpus_folder(corpus, tmp_path, monkeypatch, detector):
    from typer.testing import CliRunner

    from forensics.cli.main import app
    from forensics.detector import Detector

    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, model=None, device="auto", clip=None: detector))
    root, cases = corpus
    fakes = _fake_folder(root, tmp_path)
    out = tmp_path / "results.json"
    res = CliRunner().invoke(app, ["eval", "--real", str(root / "folder"), "--fake", f"noise={fakes}",
                                   "--out", str(out), "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, (res.exception, res.stderr)
    assert "Traceback" not in res.stderr
    results = json.loads(out.read_text())
    errors = {e["path"]: e["error"] for e in results["errors"]}
    expected = {str(c.path): c for c in folder_cases(cases) if c.is_error and not c.directory}
    expected_fakes = {str(fakes / n) for n in BAD_FAKES}
    assert set(errors) == set(expected) | expected_fakes
    for path, case in expected.items():
        assert case.reason.lower() in errors[path].lower(), (case.name, errors[path])
    warned = {p for k, p, _ in _warnings(res.stderr) if k == "evaluation"}
    assert warned == set(errors)
    n_good = sum(not c.is_error for c in folder_cases(cases))
    assert results["conditions"]["clean"]["per_real_source"]["folder"]["n"] == n_good


def test_cli_eval_fake_set_with_no_readable_file(corpus, tmp_path, monkeypatch, detector):
    from typer.testing import CliRunner

    from forensics.cli.main import app
    from forensics.detector import Detector

    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, model=None, device="auto", clip=None: detector))
    root, cases = corpus
    bad = _unreadable_folder(cases, tmp_path / "bad")
    good = _fake_folder(root, tmp_path)
    res = CliRunner().invoke(app, ["eval", "--real", str(good), "--fake", f"bad={bad}", "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, (res.exception, res.stderr)
    assert "Traceback" not in res.stderr
    assert f"warning: no readable images in {bad}" in res.stderr
    assert "AP nan" in res.stdout

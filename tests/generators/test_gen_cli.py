"""`forensics generate` through typer's CliRunner, on a small app holding just that command."""
from __future__ import annotations

import json

import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from tests.generators.gen_helpers import TINY
from forensics.cli.generate_cmd import generate

app = typer.Typer()
app.command("generate")(generate)
app.command("noop")(lambda: None)  # a second command keeps `generate` a named sub-command


@pytest.fixture()
def runner():
    return CliRunner()


def test_registered_in_the_forensics_app(runner):
    from forensics.cli.main import app as forensics_app
    res = runner.invoke(forensics_app, ["generate", "--help"])
    assert res.exit_code == 0, res.output
    for opt in ("--out", "--weights", "--train-on", "--steps", "--seed", "--device"):
        assert opt in res.stdout


def test_rerun_into_same_folder_resumes(runner, trained, tmp_path):
    wdir = trained["stylegan"].save(tmp_path / "w")
    out = tmp_path / "out"
    base = ["generate", "stylegan", "--out", str(out), "--weights", str(wdir), "--device", "cpu", "-q"]
    assert runner.invoke(app, base + ["-n", "3"]).exit_code == 0
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    res = runner.invoke(app, base + ["-n", "5"])
    assert res.exit_code == 0, res.output
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png") if p.name in stamp} == stamp
    recs = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in recs] == list(range(5)) and len(list(out.glob("*.png"))) == 5
    # a rerun with other weights into the same folder is refused, not mixed in
    other = trained["dcgan"].save(tmp_path / "w2")
    res = runner.invoke(app, ["generate", "dcgan", "-n", "5", "--out", str(out), "--weights", str(other)])
    assert res.exit_code == 2 and "another generator" in res.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present (the cuda case runs instead)")
def test_cuda_without_a_gpu_is_a_clean_usage_error(runner, trained, tmp_path):
    wdir = trained["gmm"].save(tmp_path / "w")
    res = runner.invoke(app, ["generate", "gmm", "-n", "1", "--out", str(tmp_path / "o"), "--weights", str(wdir),
                              "--device", "cuda"])
    assert res.exit_code == 2 and "CUDA is not available" in res.stderr


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_generate_from_weights_dir(runner, trained, tmp_path, device):
    wdir = trained["dcgan"].save(tmp_path / "w")
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", "dcgan", "-n", "3", "--out", str(out), "--weights", str(wdir),
                              "--seed", "5", "--device", device])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["seed"] == 5
    assert len(list(out.glob("dcgan_*.png"))) == 3


def test_generate_with_default_weights(runner, tmp_path):
    res = runner.invoke(app, ["generate", "gmm", "-n", "2", "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert len(list((tmp_path / "o").glob("gmm_*.png"))) == 2


def test_generate_train_on(runner, images, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i, im in enumerate(images[:8]):
        Image.fromarray(im).resize((12, 16)).save(data / f"{i}.png")
    # tiny config: save a tiny untrained model and fine-tune it from --weights
    import generators
    wdir = generators.create_generator("dcgan", **TINY["dcgan"]).save(tmp_path / "w0")
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", "dcgan", "-n", "2", "--out", str(out), "--weights", str(wdir),
                              "--train-on", str(data), "--steps", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "weights" / "config.json").read_text())
    assert meta["training"]["steps"] == 2 and meta["training"]["n_images"] == 8
    assert meta["training"]["finished"] is True
    # rerun (more images): the weights trained by the first run are reused, finished PNGs kept
    first = (out / "dcgan_000000.png").stat().st_mtime_ns
    res = runner.invoke(app, ["generate", "dcgan", "-n", "3", "--out", str(out), "--weights", str(wdir),
                              "--train-on", str(data), "--steps", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "reusing weights" in res.stderr
    assert (out / "dcgan_000000.png").stat().st_mtime_ns == first and len(list(out.glob("*.png"))) == 3


@pytest.mark.parametrize("args,msg", [
    (["generate", "nope", "-n", "1", "--out", "X"], "unknown generator 'nope'"),
    (["generate", "dcgan", "-n", "1", "--out", "X", "--weights", "/no/such/dir"], "not found"),
    (["generate", "dcgan", "-n", "1", "--out", "X", "--train-on", "/no/such/dir"], "not found"),
    (["generate", "dcgan", "-n", "1", "--out", "X", "--steps", "3"], "--steps needs --train-on"),
    (["generate", "dcgan", "-n", "1", "--out", "X", "--weights", "model.pt"], "pickled"),
])
def test_errors_exit_2_with_one_line(runner, tmp_path, args, msg):
    args = [a.replace("X", str(tmp_path / "x")) for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == ""


def test_subprocess_entry_point_writes_and_resumes(trained, tmp_path):
    """The real `python -m forensics generate` in a child process, killed-free resume included."""
    import subprocess
    import sys
    wdir = trained["glow"].save(tmp_path / "w")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "forensics", "generate", "glow", "--out", str(out), "--weights", str(wdir),
           "--device", "cpu", "--seed", "2"]
    first = subprocess.run(cmd + ["-n", "2"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    stamp = (out / "glow_000000.png").stat().st_mtime_ns
    second = subprocess.run(cmd + ["-n", "4"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == str(out)
    assert (out / "glow_000000.png").stat().st_mtime_ns == stamp
    recs = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in recs] == [0, 1, 2, 3] and {r["seed"] for r in recs} == {2}
    assert not list(out.glob(".*.tmp"))

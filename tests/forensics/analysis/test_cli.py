"""`forensics analyze` and `forensics report` through the registered typer app, with the embedded default model:
on tiny synthetic folders, and on real development images from ../shared/data (skipped when absent)."""
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics.cli.main import app
from forensics.detector import default_model_name, shipped_models

DEFAULT_ID = json.loads((shipped_models()[default_model_name()] / "config.json").read_text())["model_id"]

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CELEBA = DATA / "real" / "celeba" / "val"
WEB_FAKES = DATA / "fake" / "web-stylegan-faces"
needs_data = pytest.mark.skipif(not (CELEBA.is_dir() and WEB_FAKES.is_dir()),
                                reason="development images ../shared/data (celeba/val, web-stylegan-faces) not present")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def invoke(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


@pytest.fixture
def small_folders(toy_folders):
    for d in toy_folders.values():  # 6 images a set keeps the real model fast
        for p in sorted(d.glob("*.png"))[6:]:
            p.unlink()
    return toy_folders


def test_commands_are_registered():
    res = invoke("--help")
    assert res.exit_code == 0 and "analyze" in res.stdout and "report" in res.stdout


def test_analyze_command_writes_figures_and_json(small_folders, tmp_path):
    out = tmp_path / "an"
    res = invoke("analyze", "--images", f"gan={small_folders['fake']}", "--images", f"real={small_folders['real']}",
                 "--out", out, "--top-k", 4, "--quiet", "--no-faces")
    assert res.exit_code == 0, res.stderr
    data = json.loads((out / "analysis.json").read_text())
    assert data["real_sets"] == ["real"] and data["sets"]["gan"]["n"] == 6
    assert data["model"] == DEFAULT_ID and len(data["sets"]["gan"]["top_patches"]) == 4
    for fig in ("mean_heatmaps", "top_patches", "regions", "spectra"):
        assert (out / f"{fig}.png").is_file(), fig
    assert "mean P(fake)" in res.stderr


def test_analyze_usage_errors_exit_2(small_folders, tmp_path):
    res = invoke("analyze", "--images", f"gan={tmp_path / 'missing'}", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "not a directory" in res.stderr
    res = invoke("analyze", "--images", f"gan={small_folders['fake']}", "--real", "nope", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "no such --images set" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = invoke("analyze", "--images", f"e={empty}", "--out", tmp_path / "o", "--no-faces")
    assert res.exit_code == 2 and "no images" in res.stderr


def test_report_usage_errors_exit_2(small_folders, tmp_path):
    bad = invoke("report", "--real", small_folders["real"], "--fake", f"real={small_folders['fake']}",
                 "--out", tmp_path / "r.html")
    assert bad.exit_code == 2 and "both real and fake" in bad.stderr
    bad = invoke("report", "--real", small_folders["real"], "--fake", f"gan={small_folders['fake']}",
                 "--out", tmp_path / "r.pdf")
    assert bad.exit_code == 2 and ".html" in bad.stderr
    bad = invoke("report", "--real", small_folders["real"], "--fake", f"gan={small_folders['fake']}",
                 "--out", tmp_path / "r.html", "--model", "patch", "--profile", "pets")
    assert bad.exit_code == 2 and "no threshold profile 'pets' (profiles: portraits)" in bad.stderr
    from forensics.pretrained import clip_file

    if clip_file.status()[0]:  # without the CLIP file the default's verdict (and profiles) are the patch model's
        # the fused default offers only profiles calibrated on its own score: none (never the patch model's)
        bad = invoke("report", "--real", small_folders["real"], "--fake", f"gan={small_folders['fake']}",
                     "--out", tmp_path / "r.html", "--profile", "portraits")
        assert bad.exit_code == 2 and "no threshold profile 'portraits' (profiles: none)" in bad.stderr
    assert not (tmp_path / "r.html").exists()


@needs_data
def test_analyze_and_report_on_real_development_images(tmp_path):
    """Real CelebA photos against web StyleGAN-family faces (few images: this checks the plumbing, not accuracy)."""
    out = tmp_path / "an"
    res = invoke("analyze", "--images", f"celeba={CELEBA}", "--images", f"web={WEB_FAKES}", "--real", "celeba",
                 "--limit", 4, "--top-k", 3, "--extreme", 2, "--out", out, "--quiet")
    assert res.exit_code == 0, res.stderr
    data = json.loads((out / "analysis.json").read_text())
    assert data["sets"]["celeba"]["n"] == 4 and data["sets"]["web"]["n"] == 4
    assert data["geometry"]["receptive_field"] > data["geometry"]["stride"] > 0
    web = data["sets"]["web"]
    assert web["heatmap"]["difference_to_real"] is not None and len(web["top_patches"]) == 3
    assert {"grid3x3", "texture"} <= set(web["regions"])
    if "face" in web["regions"]:  # MediaPipe installed: the faces are found
        assert web["regions"]["face"]["n_images"] >= 3

    html = tmp_path / "reports" / "dev.html"
    res = invoke("report", "--real", f"celeba={CELEBA}", "--fake", f"web={WEB_FAKES}", "--out", html, "--limit", 4,
                 "--top-k", 3, "--worst", 2, "--quiet", "--figures-dir", tmp_path / "figs")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == str(html) and re.search(r"web: AP \d\.\d{3}", res.stderr)
    page = html.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(srcs) >= 4 + 2 * 2 and all(s.startswith("data:image/") for s in srcs)
    assert "not evidence of authenticity" in page and DEFAULT_ID in page
    metrics = json.loads((tmp_path / "figs" / "metrics.json").read_text())
    assert metrics["fake_sets"]["web"]["n_fake"] == 4 and metrics["real_sources"]["celeba"]["n"] == 4

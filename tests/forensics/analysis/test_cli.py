"""`forensics analyze` and `forensics report` through typer, with the embedded default model on tiny folders."""
import json

import pytest
import typer
from typer.testing import CliRunner

from forensics.cli.analyze_cmd import analyze
from forensics.cli.report_cmd import report


def invoke(fn, name, *args):
    app = typer.Typer()
    app.command(name)(fn)
    app.command("noop")(lambda: None)  # keep the command name as a subcommand
    res = CliRunner().invoke(app, [name, *[str(a) for a in args]])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


@pytest.fixture
def small_folders(toy_folders):
    for d in toy_folders.values():  # 6 images a set keeps the real model fast
        for p in sorted(d.glob("*.png"))[6:]:
            p.unlink()
    return toy_folders


def test_analyze_command_writes_figures_and_json(small_folders, tmp_path):
    out = tmp_path / "an"
    res = invoke(analyze, "analyze", "--images", f"gan={small_folders['fake']}", "--images",
                 f"real={small_folders['real']}", "--out", out, "--top-k", 4, "--quiet", "--no-faces")
    assert res.exit_code == 0, res.stderr
    data = json.loads((out / "analysis.json").read_text())
    assert data["real_sets"] == ["real"] and data["sets"]["gan"]["n"] == 6
    assert data["model"] == "forensics-default-v1" and len(data["sets"]["gan"]["top_patches"]) == 4
    assert (out / "mean_heatmaps.png").is_file() and (out / "spectra.png").is_file()
    assert "mean P(fake)" in res.stderr


def test_analyze_usage_errors_exit_2(small_folders, tmp_path):
    res = invoke(analyze, "analyze", "--images", f"gan={tmp_path / 'missing'}", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "not a directory" in res.stderr
    res = invoke(analyze, "analyze", "--images", f"gan={small_folders['fake']}", "--real", "nope", "--out",
                 tmp_path / "o")
    assert res.exit_code == 2 and "no such --images set" in res.stderr


def test_report_command(small_folders, tmp_path):
    out = tmp_path / "reports" / "toy.html"
    res = invoke(report, "report", "--real", small_folders["real"], "--fake", f"gan={small_folders['fake']}",
                 "--out", out, "--limit", 4, "--top-k", 4, "--worst", 2, "--quiet", "--no-faces")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == str(out) and "AP" in res.stderr
    html = out.read_text()
    assert "gan" in html and "data:image/png;base64," in html
    bad = invoke(report, "report", "--real", small_folders["real"], "--fake", f"real={small_folders['fake']}",
                 "--out", out)
    assert bad.exit_code == 2 and "both real and fake" in bad.stderr

"""`forensics inspect`: readable dump, --json, exit code 2 and one stderr line on a bad file."""
from __future__ import annotations

import json

import numpy as np
import typer
from typer.testing import CliRunner

from forensics.cli import inspect_cmd

app = typer.Typer()
app.command("inspect")(inspect_cmd.inspect)
app.command("noop")(lambda: None)  # two commands, so `inspect` is addressed by name as in the real CLI
runner = CliRunner()
IMG = np.full((64, 64, 3), 50, np.uint8)


def test_readable_and_json(mk, write):
    p = write("a.png", mk.png_bytes(IMG, text={"parameters": mk.A1111}))
    res = runner.invoke(app, ["inspect", str(p)])
    assert res.exit_code == 0, res.output
    assert "[strong] png_parameters" in res.stdout and "PNG text chunks:" in res.stdout
    assert "not evidence of authenticity" in res.stdout
    res = runner.invoke(app, ["inspect", str(p), "--json"])
    data = json.loads(res.stdout)
    assert data["signals"][0]["kind"] == "png_parameters" and "metadata" in data


def test_clean_and_deep(mk, write):
    p = write("c.png", mk.png_bytes(mk.natural(3, 300, 300)))
    res = runner.invoke(app, ["inspect", str(p), "--deep"])
    assert res.exit_code == 0 and "provenance signals: 0" in res.stdout and "watermark: best" in res.stdout


def test_bad_file_exit_2(write, tmp_path):
    for p in (write("t.png", b"plain text"), tmp_path / "missing.jpg"):
        res = runner.invoke(app, ["inspect", str(p)])
        assert res.exit_code == 2 and res.stdout == ""
        assert str(p) in res.stderr and len(res.stderr.strip().splitlines()) == 1

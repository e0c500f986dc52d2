"""Help that reads at 80 columns, and one error style (`error: ...` on stderr) for every command."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from forensics.cli.main import app

COMMANDS = ["scan", "audit", "report", "inspect", "models", "demo", "generate", "train", "eval", "calibrate",
            "average", "import-backbone", "fit-head", "analyze"]


def _help(*args: str):
    return CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"})


def test_root_help_at_80_columns_lists_commands_in_order_without_cutting_them():
    r = subprocess.run([sys.executable, "-m", "forensics", "--help"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), r.stdout
    assert not any(line.rstrip().endswith("...") for line in lines[1:]), r.stdout  # no summary cut off
    assert "<bool>" not in r.stdout and "╭" not in r.stdout
    listed = [m.group(1) for line in lines if (m := re.match(r"^  ([a-z][a-z-]+)  ", line))]
    assert set(COMMANDS) <= set(listed), listed
    assert [n for n in listed if n in COMMANDS] == COMMANDS, listed  # the user's commands first, in this order
    assert r.stdout.index("Training and research:") > r.stdout.index("  demo ")


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_at_80_columns_is_readable(command):
    r = _help(command)
    assert r.exit_code == 0, r.output
    text = r.stdout
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    # option help keeps a column of at least 40 characters: never one word per line
    assert not [line for line in lines if line.strip() and len(line) - len(line.lstrip()) > 40], text
    assert not re.search(r"<(bool|str|int|float|path|list)", text), text  # usual metavars: TEXT, PATH, FLOAT
    assert "{" not in lines[0] and "╭" not in text and "…" not in text, text


def test_scan_and_audit_usage_and_metavars():
    scan = _help("scan").stdout
    assert scan.startswith("Usage: forensics scan [OPTIONS] PATHS...")
    assert re.search(r"--threshold FLOAT\s+Override", scan) and re.search(r"--json\s+One JSON", scan)
    audit = _help("audit").stdout
    assert "Usage: forensics audit [OPTIONS] PATHS..." in audit and "--out, -o PATH" in audit


def test_demo_model_and_device_have_help():
    text = _help("demo").stdout
    assert re.search(r"--model TEXT\s+Model directory", text), text
    assert re.search(r"--device TEXT\s+auto, cpu or cuda", text), text


@pytest.mark.parametrize("args", [
    ["scan", "--threshold", "abc", "x.png"],          # typer's own parsing
    ["scan"],                                          # missing argument
    ["nosuch"],                                        # unknown command
    ["inspect", "does-not-exist.png"],                 # a command's own check
    ["audit", "does-not-exist", "--out", "r.jsonl"],
])
def test_every_error_is_one_error_line_on_stderr(args, tmp_path):
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: "), r.stderr
    assert "Error:" not in r.stderr and "forensics inspect:" not in r.stderr and r.stdout == ""

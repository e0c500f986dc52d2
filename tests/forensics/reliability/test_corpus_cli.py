"""The corpus through `forensics scan`: one record per file, one `error: PATH: reason` line per bad file,
no traceback, the run goes on, exit code 0/1 when something was read and 2 when nothing was."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from forensics.cli.scan_cmd import display_path
from tests.forensics.reliability.cli_helpers import invoke_cli
from tests.forensics.reliability.corpus import check_outcome


@pytest.fixture(autouse=True)
def _reuse_loaded_detector(shared_detector):
    """In-process CLI runs reuse the session's loaded default model (see conftest)."""


def run(*args):
    res = invoke_cli(*args)
    return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)


def test_cli_scan_whole_corpus(corpus):
    _, cases = corpus
    runnable = [c for c in cases if not c.skip]
    for c in runnable:
        if c.before:
            c.before()
    r = run("scan", "--json", "--no-provenance", "--batch-size", "8", *[c.path for c in runnable])
    assert "Traceback" not in r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == len(runnable)
    problems = []
    for case, rec in zip(runnable, recs):
        assert rec["path"] == str(case.path)
        msg = check_outcome(case, label=rec["label"], error=rec["error"], notes=rec.get("notes") or (),
                            score=rec["score"])
        if msg:
            problems.append(f"{case.name}: {msg}")
    assert not problems, "\n".join(problems)
    err_lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    n_errors = sum(rec["label"] == "error" for rec in recs)
    assert len(err_lines) == n_errors
    for case, rec in zip(runnable, recs):
        if rec["label"] == "error":
            assert f"error: {display_path(str(case.path))}: {rec['error']}" in err_lines
    flagged = any(rec["label"] == "fake" for rec in recs)
    assert r.returncode == (1 if flagged else 0)
    # human-readable mode: one verdict line per scored image (the newline in a name escaped), each
    # followed by its notes on indented "  note: " lines
    r = run("scan", "--no-provenance", "--exit-zero", *[c.path for c in runnable if not c.is_error])
    assert r.returncode == 0 and "Traceback" not in r.stderr
    verdicts = [line for line in r.stdout.splitlines() if not line.startswith("  note: ")]
    assert len(verdicts) == sum(not c.is_error for c in runnable)
    assert all("\tP(fake)=" in line for line in verdicts)


def test_cli_only_bad_inputs_exit_2_and_debug_adds_no_traceback(corpus):
    _, cases = corpus
    bad = [c.path for c in cases if c.is_error and c.in_folder and not c.skip]
    for extra in ((), ("--debug",)):
        r = run("scan", "--no-provenance", *extra, *bad)
        assert r.returncode == 2, r.stderr
        assert r.stdout == "" and "Traceback" not in r.stderr
        assert r.stderr.count("error: ") == len(bad)


def test_cli_max_pixels(corpus):
    root, cases = corpus
    good = next(c for c in cases if c.name == "png_rgba").path  # 64 x 48
    r = run("scan", "--json", "--no-provenance", "--max-pixels", "3000", good)
    assert r.returncode == 2 and "over the limit of 3000" in r.stderr
    r = run("scan", "--json", "--no-provenance", "--exit-zero", "--max-pixels", "3072", good)
    assert r.returncode == 0 and json.loads(r.stdout)["width"] == 64


def test_cli_process_leading_dash_names_after_double_dash(corpus):
    """Through a real process and argv: `forensics scan -- -dash.png --help.png`."""
    root, _ = corpus
    folder = root / "folder"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    p = subprocess.run([sys.executable, "-m", "forensics", "scan", "--json", "--no-provenance", "--exit-zero",
                        "--", "-dash.png", "--help.png", "new\nline.png", "pipe.png"],
                       cwd=folder, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["path"] for r in recs] == ["-dash.png", "--help.png", "new\nline.png", "pipe.png"]
    assert [r["label"] in ("real", "uncertain", "fake") for r in recs] == [True, True, True, False]
    assert "Traceback" not in p.stderr and "error: pipe.png: not a regular file" in p.stderr

"""Bad arguments answer at once: `forensics scan` and `audit` check them before torch and the model load."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

# runs the real CLI in a fresh interpreter, then reports whether torch / the detector module were imported
HARNESS = """
import json, sys
sys.argv = ["forensics"] + json.loads(sys.argv[1])
code = 0
try:
    from forensics.cli.main import main
    main()
except SystemExit as e:
    code = e.code
sys.stderr.write("\\nHARNESS " + json.dumps({"code": code, "torch": "torch" in sys.modules,
                                              "detector": "forensics.detector" in sys.modules}) + "\\n")
"""


def _run(*args) -> tuple[dict, str]:
    r = subprocess.run([sys.executable, "-c", HARNESS, json.dumps([str(a) for a in args])], capture_output=True,
                       text=True, timeout=120)
    head, _, tail = r.stderr.rpartition("\nHARNESS ")
    return json.loads(tail), head.strip()


@pytest.fixture
def image(photo_files):
    return photo_files[0]


def test_scan_checks_files_threshold_and_heatmap_folder_before_loading_the_model(tmp_path, image):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        (["scan", tmp_path / "missing.png"], "error: " + str(tmp_path / "missing.png") + ": file not found"),
        (["scan", "--threshold", "1.5", image], "error: --threshold must be in [0, 1], got 1.5"),
        (["scan", "--threshold", "0.5", "--profile", "portraits", image], "error: --threshold and --profile"),
        (["scan", "--heatmap-dir", a_file, image], "is not a folder"),
        (["scan", "--heatmap-dir", a_file / "sub", image], "cannot be created"),
    ]
    for args, expected in cases:
        info, err = _run(*args)
        assert info == {"code": 2, "torch": False, "detector": False}, (args, err)
        assert expected in err and len(err.splitlines()) == 1, (args, err)


def test_scan_names_every_missing_file(tmp_path):
    info, err = _run("scan", tmp_path / "a.png", tmp_path / "b.png")
    assert info["code"] == 2 and not info["torch"]
    assert err.splitlines() == [f"error: {tmp_path / 'a.png'}: file not found",
                                f"error: {tmp_path / 'b.png'}: file not found"]


def test_audit_checks_output_paths_before_loading_the_model(tmp_path, image):
    folder = image.parent
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        (["audit", folder, "--out", a_file / "r.jsonl"], "--out"),
        (["audit", folder, "--out", tmp_path / "r.jsonl", "--csv", tmp_path], "--csv"),
        (["audit", tmp_path / "nope", "--out", tmp_path / "r.jsonl"], "no such file or directory"),
    ]
    for args, expected in cases:
        info, err = _run(*args)
        assert info == {"code": 2, "torch": False, "detector": False}, (args, err)
        assert err.startswith("error: ") and expected in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "r.jsonl").exists()

"""`forensics audit` as a user runs it: no readable input exits 2, arguments checked before the model loads."""
from __future__ import annotations

import json
import os
import subprocess
import sys



def _audit(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forensics", "audit", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_an_empty_folder_or_one_without_images_is_no_readable_input(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _audit(empty, "--out", tmp_path / "e.jsonl", "--workers", "0")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: no readable input: no image files found")
    others = tmp_path / "others"
    others.mkdir()
    (others / "logo.svg").write_text("<svg/>")
    (others / "doc.pdf").write_bytes(b"%PDF-1.4\n")
    r = _audit(others, "--out", tmp_path / "o.jsonl", "--workers", "0")
    assert r.returncode == 2, r.stderr
    assert "2 file(s) of other types ignored" in r.stderr and "ignored: 2 (.pdf 1, .svg 1)" in r.stderr
    assert json.loads((tmp_path / "o.summary.json").read_text())["ignored"]["count"] == 2

"""`forensics report AUDIT_JSONL` and `forensics audit DIR --report` on a real small audit (photographs that
ship with scikit-image, an unreadable file, a file of another type), checked in headless Chromium; the
evaluation mode (--real/--fake) still works."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.forensics.test_report import check_in_browser, needs_chromium


def _cli(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forensics", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture(scope="module")
def real_audit(tmp_path_factory):
    """`forensics audit photos --out audit.jsonl --report audit.html --model fast` on 3 photos + 2 other files."""
    import skimage.data

    tmp = tmp_path_factory.mktemp("audit-report")
    photos = tmp / "photos"
    photos.mkdir()
    Image.fromarray(skimage.data.astronaut()).resize((256, 256)).save(photos / "astronaut.png")
    Image.fromarray(skimage.data.chelsea()).save(photos / "chelsea.jpg", quality=92)
    Image.fromarray(skimage.data.coffee()).resize((300, 200)).save(photos / "coffee.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (photos / "notes.txt").write_text("not an image")
    r = _cli("audit", "photos", "--out", "audit.jsonl", "--model", "fast", "--workers", "0", "--report",
             "out/audit.html", "--exit-zero", cwd=tmp)
    return tmp, r


def test_audit_report_flag_writes_the_report_after_the_audit(real_audit):
    tmp, r = real_audit
    assert r.returncode == 0, r.stderr
    html = (tmp / "out" / "audit.html").read_text(encoding="utf-8")
    assert "report: out/audit.html" in r.stderr and r.stdout == ""
    counts = dict(re.findall(r'class="count" data-label="([^"]+)" data-count="(\d+)"', html))
    records = [json.loads(line) for line in (tmp / "audit.jsonl").read_text().splitlines()]
    assert sum(map(int, counts.values())) == len(records) == 4 and counts["error"] == "1"
    assert len(re.findall(r'<div class="card" data-label=', html)) == 3
    assert len(re.findall(r'src="data:image/jpeg;base64,', html)) == 3  # each photo with its heatmap
    assert "broken.png" in html and "not an image" in html  # the unreadable file, with its reason
    assert 'id="files-walked">5<' in html and ".txt" in html  # the summary: files walked, ignored by type
    assert os.path.getsize(tmp / "out" / "audit.html") < 400_000


def test_report_of_an_audit_jsonl(real_audit):
    tmp, _ = real_audit
    r = _cli("report", "audit.jsonl", "--out", "again.html", "--top", "1", cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "again.html" and "report of 4 records" in r.stderr
    html = (tmp / "again.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<div class="card" data-label=', html)) == 1
    assert re.search(r'id="top-table"', html)  # the other records are in the table


def test_report_one_line_errors(real_audit, tmp_path):
    tmp, _ = real_audit
    r = _cli("report", tmp_path / "nope.jsonl", "--out", tmp_path / "r.html")
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'nope.jsonl'}: no such file (give the " \
                                                     "JSONL that `forensics audit --out` wrote)"
    bad = tmp_path / "bad.jsonl"
    bad.write_text((tmp / "audit.jsonl").read_text().splitlines()[0] + "\nnot json\n")
    r = _cli("report", bad, "--out", tmp_path / "r.html")
    assert r.returncode == 2 and r.stderr.strip().startswith(f"error: {bad}:2: not a JSON record"), r.stderr
    r = _cli("report", bad, "--real", tmp, "--out", tmp_path / "r.html")
    assert r.returncode == 2 and "not both" in r.stderr
    r = _cli("report", "--out", tmp_path / "r.html")
    assert r.returncode == 2 and r.stderr.startswith("error: give an audit's JSONL")
    assert not (tmp_path / "r.html").exists()


def test_evaluation_report_still_works(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("real", "fake"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    r = _cli("report", "--real", tmp_path / "real", "--fake", f"noise={tmp_path / 'fake'}", "--out",
             tmp_path / "eval.html", "--model", "fast", "--no-faces", "--no-provenance", "--quiet", "--top-k", "2",
             "--worst", "1")
    assert r.returncode == 0, r.stderr
    assert "Worst false positives" in (tmp_path / "eval.html").read_text(encoding="utf-8")


@needs_chromium
def test_audit_report_renders_in_headless_chromium(real_audit, tmp_path):
    tmp, _ = real_audit
    res = check_in_browser(tmp / "out" / "audit.html", tmp_path)
    assert res["std"] > 10, "screenshot looks blank"
    assert res["total"] == 3 and res["loaded"] == 3, res  # the gallery's thumbnails all decoded
    dom = res["dom"]
    counts = dict(re.findall(r'class="count" data-label="([^"]+)" data-count="(\d+)"', dom))
    assert counts.get("error") == "1" and sum(map(int, counts.values())) == 4, counts
    assert len(re.findall(r'<div class="card" data-label=', dom)) == 3
    assert 'id="histogram"' in dom and "broken.png" in dom

"""Audit outputs as a user reads them: file permissions under the umask, the CSV's provenance column."""
from __future__ import annotations

import csv
import json
import os
import stat

import pytest
from PIL import Image, PngImagePlugin

from forensics.audit import audit
from tests.forensics.audit.conftest import make_images


@pytest.fixture
def umask_022():
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_every_audit_output_gets_the_umask_permissions(tmp_path, detector, mask):
    folder = tmp_path / "data"
    make_images(folder, 3)
    out, c = tmp_path / "res.jsonl", tmp_path / "res.csv"
    before = os.umask(mask)
    try:
        audit(folder, out, detector=detector, workers=0, csv=c, provenance=False)
        # a torn tail makes the next run rewrite the JSONL through a temp file
        out.write_bytes(out.read_bytes() + b'{"path": "torn')
        s = audit(folder, out, detector=detector, workers=0, csv=c, provenance=False)
    finally:
        os.umask(before)
    assert s.repaired
    expected = 0o666 & ~mask
    for p in (out, c, tmp_path / "res.summary.json"):
        assert _mode(p) == expected, (p.name, oct(_mode(p)))


def test_atomic_json_writer_uses_the_umask(tmp_path, umask_022):
    from forensics.checkpoint import atomic_write_json

    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert _mode(tmp_path / "a.json") == 0o644


def test_csv_provenance_column_is_one_line_of_json(tmp_path, detector, photos):
    folder = tmp_path / "data"
    folder.mkdir()
    rgb = next(iter(photos.values()))[:96, :96]
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512")
    Image.fromarray(rgb).save(folder / "gen.png", pnginfo=info)
    out, c = tmp_path / "res.jsonl", tmp_path / "res.csv"
    audit(folder, out, detector=detector, workers=0, csv=c, provenance=True)
    text = c.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2, text  # header + one row: no line breaks inside a cell
    row = next(csv.DictReader(text.splitlines()))
    signals = json.loads(row["provenance_signals"])
    assert signals[0]["kind"] == "png_parameters" and "Negative prompt" in signals[0]["value"]


def test_csv_names_the_branch_scores_and_the_kind_of_a_fused_record(tmp_path):
    from forensics.audit.summary import write_csv

    recs = [{"path": "a.jpg", "label": "real", "score": 0.03, "branches": {
                "patch": {"score": 0.86}, "clip": {"score": 0.0, "kind": "thermal", "kind_offset": -0.73}}},
            {"path": "b.png", "label": "fake", "score": 0.99, "branches": {
                "patch": {"score": 1.0}, "clip": {"score": 1.0, "kind": None}}},
            {"path": "c.png", "label": "real", "score": 0.1}]
    out = tmp_path / "res.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert write_csv(out, tmp_path / "res.csv") == 3
    rows = list(csv.DictReader((tmp_path / "res.csv").read_text(encoding="utf-8").splitlines()))
    assert [(r["patch_score"], r["clip_score"], r["kind"]) for r in rows] == [
        ("0.86", "0.0", "thermal"), ("1.0", "1.0", ""), ("", "", "")]


def test_the_summary_counts_the_images_each_kind_judged_by_label(tmp_path):
    from forensics.audit.summary import summarize

    clip = lambda kind: {"patch": {"score": 0.5}, "clip": {"score": 0.5, "kind": kind}}
    recs = [{"path": "a.jpg", "label": "real", "score": 0.03, "branches": clip("thermal")},
            {"path": "b.png", "label": "uncertain", "score": 0.9, "branches": clip("face")},
            {"path": "c.png", "label": "fake", "score": 0.99, "branches": clip("face")},
            {"path": "d.png", "label": "real", "score": 0.1, "branches": clip(None)},
            {"path": "e.png", "label": "real", "score": 0.1}]
    out = tmp_path / "res.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in recs))
    s = summarize(out)
    assert s.kinds == {"thermal": {"real": 1}, "face": {"uncertain": 1, "fake": 1}}
    assert "judged as a kind of their own: face 2 (fake 1, uncertain 1), thermal 1 (real 1)" in s.format_text()
    (tmp_path / "plain.jsonl").write_text(json.dumps(recs[-1]) + "\n")
    assert "kind of their own" not in summarize(tmp_path / "plain.jsonl").format_text()


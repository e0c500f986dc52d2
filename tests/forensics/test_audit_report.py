"""The report of an audit (forensics/audit_report.py) on synthetic JSONL: streaming, ordering, any label,
branches, missing images, the detector loaded only when the gallery needs it, one-line errors."""
from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensics.audit_report import AuditReportError, label_order, read_audit, write_audit_report


class StubMap:
    def __init__(self, h, w):
        self.probabilities = np.linspace(0, 1, (h // 8) * (w // 8), dtype=np.float32).reshape(h // 8, w // 8)
        self.stride = 8


class StubDetector:
    def __init__(self):
        self.calls = 0

    def cell_map(self, rgb):
        self.calls += 1
        return StubMap(*rgb.shape[:2])


def rec(path, label, score, **kw):
    r = {"path": str(path), "label": label, "score": score, "threshold": 0.99, "model": "stub-model",
         "width": 64, "height": 48, "error": None, "notes": [], "provenance": {"signals": []}, "branches": None}
    r.update(kw)
    return r


def write_jsonl(path: Path, records, tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def no_loader(name):
    raise AssertionError(f"the detector must not be loaded here (asked for {name!r})")


def test_label_order_is_fake_uncertain_real_others_error():
    assert label_order({"error", "real", "zzz", "fake", "uncertain", "abc"}) == [
        "fake", "uncertain", "real", "abc", "zzz", "error"]


def test_streaming_read_keeps_only_the_top_records_in_gallery_order(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["fake", "uncertain", "real", "error"]
    recs, expect = [], {k: 0 for k in labels}
    for i in range(5000):
        lab = labels[int(rng.integers(0, 4))]
        expect[lab] += 1
        recs.append(rec(f"x/{i}.png", lab, None if lab == "error" else float(rng.random()),
                        error="not an image" if lab == "error" else None))
    read = read_audit(write_jsonl(tmp_path / "a.jsonl", recs), keep=50)
    assert read.records == 5000 and dict(read.counts) == expect and read.n_errors == expect["error"]
    assert len(read.top) == 50
    assert sum(sum(h) for h in read.hist.values()) == 5000 - expect["error"]
    fakes = sorted((r["score"] for r in recs if r["label"] == "fake"), reverse=True)
    assert [t["score"] for t in read.top] == fakes[:50] and all(t["label"] == "fake" for t in read.top)


def test_report_orders_gallery_and_shows_branches_notes_provenance_and_missing_files(tmp_path):
    img = tmp_path / "img"
    img.mkdir()
    for name in ("a", "b", "c", "d"):
        Image.fromarray(np.full((48, 64, 3), 40 * (ord(name) - 96), np.uint8)).save(img / f"{name}.png")
    sig = {"signals": [{"kind": "png_text", "value": "parameters: Steps: 20, Sampler: Euler", "strength": "strong"}]}
    recs = [rec(img / "a.png", "real", 0.10),
            rec(img / "b.png", "uncertain", 0.70, branches={"patch": {"score": 0.66}, "clip": None}),
            rec(img / "c.png", "fake", 0.95, notes=["near threshold: 0.95"], provenance=sig),
            rec(img / "gone.png", "fake", 0.999),
            rec(img / "d.png", "suspicious", 0.50),
            rec(img / "bad.png", "error", None, error="not an image: unrecognised file content")]
    jsonl = write_jsonl(tmp_path / "audit.jsonl", recs)
    det = StubDetector()
    info = write_audit_report(jsonl, tmp_path / "out" / "report.html", detector=det, top=10)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert info["counts"] == {"fake": 2, "uncertain": 1, "real": 1, "suspicious": 1, "error": 1}
    assert re.findall(r'class="count" data-label="([^"]+)" data-count="(\d+)"', html) == [
        ("fake", "2"), ("uncertain", "1"), ("real", "1"), ("suspicious", "1"), ("error", "1")]
    cards = re.findall(r'<div class="card" data-label="([^"]+)"', html)
    assert cards == ["fake", "fake", "uncertain", "suspicious", "real"]  # fake, uncertain, then the rest by score
    assert info["gallery"] == 5 and info["with_image"] == 4 and det.calls == 4
    assert "image file not found" in html and "gone.png" in html
    assert "patch 0.660" in html and "clip n/a" in html
    assert "near threshold: 0.95" in html and "png_text: parameters: Steps: 20" in html
    assert "bad.png" in html and "not an image: unrecognised file content" in html
    assert len(re.findall(r'src="data:image/jpeg;base64,', html)) == 4
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert not list((tmp_path / "out").glob(".*"))  # written atomically: no temp file left
    mode = stat.S_IMODE((tmp_path / "out" / "report.html").stat().st_mode)
    assert mode & 0o044, oct(mode)  # ordinary permissions, not mkstemp's 0600


def test_detector_is_loaded_only_when_the_gallery_needs_it(tmp_path):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "here.png")
    jsonl = write_jsonl(tmp_path / "a.jsonl", [rec(tmp_path / "gone.png", "fake", 0.99),
                                               rec(tmp_path / "here.png", "real", 0.2)])
    info = write_audit_report(jsonl, tmp_path / "r0.html", top=0, loader=no_loader)
    assert info["gallery"] == 0 and not info["detector_loaded"]
    info = write_audit_report(jsonl, tmp_path / "r1.html", top=1, loader=no_loader)  # only the gone file
    assert info["gallery"] == 1 and info["with_image"] == 0 and not info["detector_loaded"]
    loaded = []
    info = write_audit_report(jsonl, tmp_path / "r2.html", top=5, model="m",
                              loader=lambda name: loaded.append(name) or StubDetector())
    assert loaded == ["m"] and info["with_image"] == 1 and info["detector_loaded"]


def test_an_overlay_file_named_by_the_record_is_reused(tmp_path):
    Image.fromarray(np.full((40, 90, 3), 200, np.uint8)).save(tmp_path / "ov.png")
    r = rec(tmp_path / "gone.png", "fake", 0.99, heatmap={"overlay": str(tmp_path / "ov.png")})
    info = write_audit_report(write_jsonl(tmp_path / "a.jsonl", [r]), tmp_path / "r.html", loader=no_loader)
    assert info["with_image"] == 1 and not info["detector_loaded"]


def test_summary_beside_the_jsonl_is_shown(tmp_path):
    jsonl = write_jsonl(tmp_path / "res.jsonl", [rec("gone.png", "real", 0.2)])
    (tmp_path / "res.summary.json").write_text(json.dumps({
        "records": 1, "files": {"walked": 7, "scored": 1, "unreadable": 0, "ignored": 6},
        "ignored": {"count": 6, "by_type": {".pdf": 4, ".svg": 2}, "reason": "not an image file name",
                    "examples": ["x/a.pdf"]}, "engine": "local", "backend": "torch", "scored": 1, "skipped": 0,
        "seconds": 1.0}))
    write_audit_report(jsonl, tmp_path / "r.html", top=0)
    html = (tmp_path / "r.html").read_text()
    assert 'id="files-walked">7<' in html and ".pdf" in html and "x/a.pdf" in html


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "no audit records"),
    ('{"label": "real", "score": 0.1}\n{"label": "real", "sco\n{"label": "fake"}\n', ":2: not a JSON record"),
    ('{"label": "real", "score": 0.1}\n[1, 2]\n', ":2: not an audit record"),
    ('{"path": "a.png", "score": 0.1}\n', ":1: not an audit record"),
])
def test_unusable_jsonl_raises_one_line_naming_file_and_line(tmp_path, content, message):
    p = tmp_path / "bad.jsonl"
    if content is not None:
        p.write_text(content)
    with pytest.raises(AuditReportError) as e:
        read_audit(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_torn_last_line_of_an_interrupted_audit_is_skipped_with_a_warning(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [rec("a.png", "real", 0.1)], tail='{"path": "b.png", "lab')
    logged = []
    read = read_audit(p, log=logged.append)
    assert read.records == 1 and read.skipped_torn_line == 2 and "a.jsonl:2" in logged[0]

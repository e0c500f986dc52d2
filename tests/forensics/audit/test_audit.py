"""Local audit engine: records, errors, resume, torn-line repair, dedupe, CSV, include/recursive."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from forensics.audit import AuditError, audit
from forensics.audit.decode import decode_file
from forensics.audit.ledger import Ledger
from forensics.audit.walk import iter_candidates
from tests.forensics.audit.conftest import make_images


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in data.decode().splitlines()]


def test_audit_folder_good_and_bad(mixed_folder, tmp_path, detector):
    out = tmp_path / "res.jsonl"
    s = audit(mixed_folder, out, detector=detector, workers=0, batch_size=4, provenance=False)
    recs = _lines(out)
    assert len(recs) == 15 and len({r["path"] for r in recs}) == 15  # 12 images + 3 bad, no .txt
    errors = {Path(r["path"]).name: r["error"] for r in recs if r["label"] == "error"}
    assert set(errors) == {"bad.png", "empty.jpg", "truncated.png"}
    assert "HTML" in errors["bad.png"] and "empty" in errors["empty.jpg"]
    good = [r for r in recs if r["label"] != "error"]
    assert all(0.0 <= r["score"] <= 1.0 and r["model"] == detector.model_id for r in good)
    assert all(r["file_size"] == os.stat(r["path"]).st_size and r["mtime"] == os.stat(r["path"]).st_mtime
               for r in recs)
    # scores equal the single-image API
    one = detector.scan(good[0]["path"], provenance=False)
    assert one.score == pytest.approx(good[0]["score"], abs=1e-5)
    assert s.records == 15 and s.n_errors == 3 and s.scored == 15 and s.skipped == 0
    assert sum(s.histogram["counts"]) == 12 and len(s.slowest) == 10
    summ = json.loads((tmp_path / "res.summary.json").read_text())
    assert summ["counts"] == s.counts and summ["n_errors"] == 3
    assert "errors: 3" in s.format_text()
    assert 0 <= s.near_threshold <= s.counts.get("real", 0)


def test_summary_counts_real_verdicts_near_threshold(tmp_path, detector):
    from forensics import Detector

    folder = tmp_path / "imgs"
    make_images(folder, 3, size=96)
    scores = sorted(detector.scan(p, provenance=False).score for p in sorted(folder.iterdir()))
    assert scores[-2] < scores[-1] < 1.0
    # a calibration record under which only the top-scoring image is near threshold
    strict = round(scores[-1] + (1.0 - scores[-1]) / 2, 6)
    runner_up = round((scores[-2] + scores[-1]) / 2, 6)
    near = Detector(detector.model, {**detector.config, "threshold": strict, "calibration": {
        "per_source_threshold": {"real:strict": strict, "real:other": runner_up}}}, device=detector.device)
    s = audit(folder, tmp_path / "res.jsonl", detector=near, workers=0, batch_size=2, provenance=False)
    assert s.counts == {"real": 3} and s.near_threshold == 1
    assert "real 3 (1 near threshold)" in s.format_text()
    assert json.loads((tmp_path / "res.summary.json").read_text())["near_threshold"] == 1


def test_worker_processes_match_in_process(mixed_folder, tmp_path, detector):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    audit(mixed_folder, a, detector=detector, workers=0, provenance=False)
    audit(mixed_folder, b, detector=detector, workers=1, batch_size=3, provenance=False)
    ra = {r["path"]: (r["label"], r["score"]) for r in _lines(a)}
    rb = {r["path"]: (r["label"], r["score"]) for r in _lines(b)}
    assert ra.keys() == rb.keys()
    for k in ra:
        assert ra[k][0] == rb[k][0]
        if ra[k][1] is not None:
            assert ra[k][1] == pytest.approx(rb[k][1], abs=1e-5)


def test_resume_after_partial_run(mixed_folder, tmp_path, detector):
    out = tmp_path / "res.jsonl"
    audit(mixed_folder, out, detector=detector, workers=0, provenance=False)
    full = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(full[:6]))  # as if interrupted after 6 records
    s = audit(mixed_folder, out, detector=detector, workers=0, provenance=False)
    assert s.skipped == 6 and s.scored == 9
    recs = _lines(out)
    assert len(recs) == 15 and len({r["path"] for r in recs}) == 15
    s2 = audit(mixed_folder, out, detector=detector, workers=0, provenance=False)
    assert s2.scored == 0 and s2.skipped == 15 and len(_lines(out)) == 15


def test_modified_file_is_rescored_once(mixed_folder, tmp_path, detector):
    out = tmp_path / "res.jsonl"
    audit(mixed_folder, out, detector=detector, workers=0, provenance=False)
    target = mixed_folder / "img0001.png"
    make_images(tmp_path / "other", 1, seed=99)
    target.write_bytes((tmp_path / "other" / "img0000.png").read_bytes())
    os.utime(target, (1_000_000_000, 1_000_000_000))
    s = audit(mixed_folder, out, detector=detector, workers=0, provenance=False)
    assert s.scored == 1 and s.compacted == 1
    recs = _lines(out)
    assert len(recs) == 15 and len({r["path"] for r in recs}) == 15
    assert [r["mtime"] for r in recs if r["path"] == str(target)] == [1_000_000_000.0]


def test_torn_last_line_is_repaired(mixed_folder, tmp_path, detector):
    out = tmp_path / "res.jsonl"
    audit(mixed_folder, out, detector=detector, workers=0, provenance=False)
    lines = out.read_bytes().splitlines(keepends=True)
    torn = b"".join(lines[:10]) + lines[10][: len(lines[10]) // 2]
    out.write_bytes(torn)
    logs: list[str] = []
    s = audit(mixed_folder, out, detector=detector, workers=0, provenance=False, log=logs.append)
    assert s.repaired and "torn" in s.repaired and any("torn" in m for m in logs)
    assert s.skipped == 10 and s.scored == 5
    recs = _lines(out)
    assert len(recs) == 15 and len({r["path"] for r in recs}) == 15


def test_ledger_repairs_zero_filled_tail_and_garbage(tmp_path):
    p = tmp_path / "r.jsonl"
    good = json.dumps({"path": "a", "label": "real", "model": "m", "file_size": 1, "mtime": 2.0}) + "\n"
    p.write_bytes(good.encode() + b"not json\n" + good.replace('"a"', '"b"').encode() + b"\0" * 100)
    led = Ledger(p, model="m")
    rep = led.open()
    led.close()
    assert rep.torn_bytes == 100 and rep.invalid_lines == 1 and rep.records == 2
    assert [r["path"] for r in _lines(p)] == ["a", "b"]
    led = Ledger(p, model="m")
    led.open()
    assert led.is_done("a", 1, 2.0) and not led.is_done("a", 1, 3.0)
    led.close()


def test_dedupe_scores_identical_content_once(tmp_path, detector):
    root = tmp_path / "d"
    make_images(root, 3, seed=5)
    (root / "zz_copy.png").write_bytes((root / "img0001.png").read_bytes())
    out = tmp_path / "res.jsonl"
    s = audit(root, out, detector=detector, workers=0, dedupe=True, provenance=False)
    recs = {Path(r["path"]).name: r for r in _lines(out)}
    assert s.duplicates == 1 and len(recs) == 4
    cp, first = recs["zz_copy.png"], recs["img0001.png"]
    assert cp["score"] == first["score"] and cp["label"] == first["label"]
    assert cp["extra"]["duplicate_of"] == first["path"] and any("duplicate of" in n for n in cp["notes"])
    # a copy added later is matched against the ledger from the earlier run
    (root / "zz_copy2.png").write_bytes((root / "img0002.png").read_bytes())
    s2 = audit(root, out, detector=detector, workers=0, dedupe=True, provenance=False)
    assert s2.duplicates == 1 and s2.skipped == 4
    assert _lines(out)[-1]["extra"]["duplicate_of"] == str(root / "img0002.png")


def test_by_hash_resume_ignores_mtime(tmp_path, detector):
    root = tmp_path / "d"
    files = make_images(root, 3, seed=6)
    out = tmp_path / "res.jsonl"
    audit(root, out, detector=detector, workers=0, by_hash=True, provenance=False)
    os.utime(files[0], (2_000_000_000, 2_000_000_000))  # touched, same content
    s = audit(root, out, detector=detector, workers=0, by_hash=True, provenance=False)
    assert s.skipped == 3 and s.scored == 0


def test_csv_written_atomically(mixed_folder, tmp_path, detector):
    out, c = tmp_path / "res.jsonl", tmp_path / "res.csv"
    audit(mixed_folder, out, detector=detector, workers=0, csv=c, provenance=False)
    rows = list(csv.DictReader(c.open(newline="", encoding="utf-8")))
    assert len(rows) == 15 and {r["label"] for r in rows} >= {"error"}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_include_and_recursive(mixed_folder, tmp_path, detector):
    out = tmp_path / "a.jsonl"
    audit(mixed_folder, out, detector=detector, workers=0, recursive=False, provenance=False)
    assert not any("/sub/" in r["path"] for r in _lines(out)) and len(_lines(out)) == 11
    out2 = tmp_path / "b.jsonl"
    audit(mixed_folder, out2, detector=detector, workers=0, include=["*.jpg"], provenance=False)
    assert sorted(Path(r["path"]).name for r in _lines(out2)) == ["empty.jpg", "j0000.jpg", "j0001.jpg",
                                                                   "j0002.jpg", "j0003.jpg"]


def test_walk_is_sorted_and_handles_links(tmp_path):
    root = tmp_path / "w"
    make_images(root / "b", 2)
    make_images(root / "a", 2)
    (root / "z.png").write_bytes(b"x")
    os.symlink(root, root / "a" / "loop")              # directory link back to the root
    os.symlink("self.png", root / "self.png")           # symlink loop on a file
    os.symlink("missing.png", root / "dangling.png")
    cands = list(iter_candidates([str(root)]))
    names = [os.path.relpath(c.path, root) for c in cands]
    assert names == ["dangling.png", "self.png", "z.png", "a/img0000.png", "a/img0001.png", "a/loop",
                     "b/img0000.png", "b/img0001.png"]
    errs = {os.path.relpath(c.path, root): c.error for c in cands if c.error}
    assert errs == {"dangling.png": "broken symbolic link", "self.png": "symbolic link loop",
                    "a/loop": "symbolic link loop (leads back to a directory being audited)"}


def test_changed_and_vanished_files(tmp_path):
    p = make_images(tmp_path, 1)[0]
    st = os.stat(p)
    assert decode_file(str(p), st.st_size, st.st_mtime, 10**8).error is None
    assert "changed during the audit" in decode_file(str(p), st.st_size + 1, st.st_mtime, 10**8).error
    p.unlink()
    assert decode_file(str(p), st.st_size, st.st_mtime, 10**8).error == "file vanished during the audit"


def test_usage_errors(tmp_path, detector):
    with pytest.raises(AuditError):
        audit(tmp_path / "missing", tmp_path / "r.jsonl", detector=detector)
    with pytest.raises(AuditError):
        audit(tmp_path, tmp_path, detector=detector)
    with pytest.raises(AuditError):
        audit("s3://bucket/x", tmp_path / "r.jsonl", detector=detector)


def test_onnx_backend_matches_torch(mixed_folder, tmp_path, detector):
    """The ONNX Runtime forward pass gives the PyTorch scores (to 1e-5) and the same records."""
    from forensics.audit.backend import onnx_available

    if not onnx_available():
        pytest.skip("onnxruntime/onnx not installed (optional: pip install -e .[onnx])")
    a, b = tmp_path / "torch.jsonl", tmp_path / "onnx.jsonl"
    sa = audit(mixed_folder, a, detector=detector, backend="torch", workers=0, provenance=False)
    sb = audit(mixed_folder, b, detector=detector, backend="onnx", workers=0, provenance=False)
    assert (sa.backend, sb.backend) == ("torch", "onnxruntime")
    ra, rb = {r["path"]: r for r in _lines(a)}, {r["path"]: r for r in _lines(b)}
    assert ra.keys() == rb.keys()
    for k, x in ra.items():
        y = rb[k]
        assert (x["label"], x["error"], x["heatmap"] and x["heatmap"]["grid"]) == \
            (y["label"], y["error"], y["heatmap"] and y["heatmap"]["grid"])
        if x["score"] is not None:
            assert y["score"] == pytest.approx(x["score"], abs=1e-5)


def test_overlapping_roots_are_audited_once(tmp_path):
    from PIL import Image

    from forensics.audit.walk import iter_candidates

    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in (tmp_path / "a" / "1.png", tmp_path / "a" / "b" / "2.png"):
        Image.new("RGB", (8, 8)).save(p)
    roots = [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(tmp_path / "a" / "b" / "2.png"), str(tmp_path / "a")]
    paths = [c.path for c in iter_candidates(roots)]
    assert sorted(os.path.basename(p) for p in paths) == ["1.png", "2.png"]
    flat = [c.path for c in iter_candidates([str(tmp_path / "a"), str(tmp_path / "a" / "b")], recursive=False)]
    assert sorted(os.path.basename(p) for p in flat) == ["1.png", "2.png"]


def test_summary_counts_fake_verdicts_on_rendered_graphics(tmp_path, detector, photo_files):
    import shutil

    import skimage

    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(Path(skimage.__file__).parent / "data" / "color.png", folder / "wheel.png")
    shutil.copy(photo_files[0], folder / "photo.png")
    s = audit(folder, tmp_path / "res.jsonl", detector=detector, workers=0, batch_size=2, provenance=False)
    recs = {Path(r["path"]).name: r for r in _lines(tmp_path / "res.jsonl")}
    assert recs["wheel.png"]["label"] == "fake" and s.fake_rendered == 1
    assert not any(n.startswith("looks rendered:") for n in recs["photo.png"]["notes"])
    assert "fake 1 (1 look rendered, not photographed)" in s.format_text()
    assert json.loads((tmp_path / "res.summary.json").read_text())["fake_rendered"] == 1

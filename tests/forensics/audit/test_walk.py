"""The walk accounts for every file: what it passes over by name is counted per type, with examples."""
from __future__ import annotations

import json

from forensics.audit import audit
from forensics.audit.walk import Ignored, iter_candidates
from tests.forensics.audit.conftest import make_images


def _other_files(folder):
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    (folder / "doc.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n")
    (folder / "notes.txt").write_text("hello")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "README").write_text("hello")
    (folder / "sub" / "more.svg").write_text("<svg/>")


def test_walk_counts_files_it_passes_over(tmp_path):
    make_images(tmp_path, 2)
    _other_files(tmp_path)
    ignored = Ignored()
    paths = [c.path for c in iter_candidates([str(tmp_path)], ignored=ignored)]
    assert len(paths) == 2
    assert ignored.count == 5
    assert ignored.by_type == {".svg": 2, ".pdf": 1, ".txt": 1, "(no extension)": 1}
    assert set(ignored.examples) <= {str(p) for p in tmp_path.rglob("*") if p.is_file()}
    flat = Ignored()
    list(iter_candidates([str(tmp_path)], recursive=False, ignored=flat))
    assert flat.count == 3 and flat.folders_not_descended == 1
    only = Ignored()
    list(iter_candidates([str(tmp_path)], include=["*.svg"], ignored=only))
    assert only.count == 5 and "--include" in only.reason  # 2 PNGs + pdf + txt + README


def test_audit_summary_accounts_for_every_file_walked(tmp_path, detector):
    folder = tmp_path / "uploads"
    make_images(folder, 3)
    _other_files(folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = folder / "res.jsonl"  # the audit's own outputs inside the folder are not counted
    s = audit(folder, out, detector=detector, workers=0, provenance=False)
    assert s.files == {"walked": 9, "scored": 3, "unreadable": 1, "duplicates": 0, "already_recorded": 0,
                       "ignored": 5}
    assert s.ignored["by_type"] == {".svg": 2, "(no extension)": 1, ".pdf": 1, ".txt": 1}
    text = s.format_text()
    assert "files walked: 9 (3 scored, 1 unreadable, 5 ignored)" in text
    assert "ignored: 5 (.svg 2, (no extension) 1, .pdf 1, .txt 1)" in text and "logo.svg" in text
    on_disk = json.loads((folder / "res.summary.json").read_text())
    assert on_disk["files"] == s.files and on_disk["ignored"]["examples"] == s.ignored["examples"]
    again = audit(folder, out, detector=detector, workers=0, provenance=False)
    assert again.files["already_recorded"] == 4 and again.files["walked"] == 9

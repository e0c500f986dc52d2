"""The corpus through `forensics audit`: one valid record per file, the precise reason for every bad
one, no traceback, the run goes on; files that change or vanish after listing (issue 7)."""
from __future__ import annotations

import json
import os

import pytest

from tests.forensics.reliability.cli_helpers import invoke_cli
from tests.forensics.reliability.corpus import check_outcome, folder_cases


@pytest.fixture(autouse=True)
def _reuse_loaded_detector(shared_detector):
    """In-process CLI runs reuse the session's loaded default model (see conftest)."""


def run(*args):
    return invoke_cli(*args)


def test_cli_audit_whole_corpus_folder(corpus, tmp_path):
    root, cases = corpus
    out = tmp_path / "audit.jsonl"
    # default: recursive, provenance on (metadata readers also see every hostile file)
    r = run("audit", root / "folder", "--out", out, "--workers", "0", "--batch-size", "8", "--exit-zero")
    assert r.exit_code == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = out.read_bytes().splitlines()
    # every line is one complete JSON record (bytes: json.loads reads a lone surrogate written for a
    # non-UTF-8 file name back into the same str; see test_audit_jsonl_is_strict_utf8 below)
    recs = [json.loads(line) for line in lines]
    by_path = {}
    for rec in recs:
        assert rec["path"] not in by_path, f"two records for {rec['path']!r}"
        by_path[rec["path"]] = rec
    problems = []
    expected = folder_cases(cases)
    for case in expected:
        rec = by_path.pop(str(case.path), None)
        if case.name == "directory":  # recursive audits walk into a folder named like an image (empty here)
            if rec is not None:
                problems.append(f"directory: unexpected record {rec}")
            continue
        if rec is None:
            problems.append(f"{case.name}: no record")
            continue
        msg = check_outcome(case, label=rec["label"], error=rec["error"], notes=rec.get("notes") or (),
                            score=rec["score"], audit=True)
        if not msg and rec["label"] != "error" and not (rec.get("sha256") and rec.get("width")):
            msg = f"incomplete record {rec}"
        if msg:
            problems.append(f"{case.name}: {msg}")
    assert not by_path, f"records for files not in the corpus: {sorted(by_path)}"
    assert not problems, "\n".join(problems)
    # resume: nothing is scored twice, no record is lost
    r2 = run("audit", root / "folder", "--out", out, "--workers", "0", "--exit-zero", "--quiet")
    assert r2.exit_code == 0 and "Traceback" not in r2.stderr
    assert out.read_bytes().splitlines() == lines


def test_audit_jsonl_is_strict_utf8_for_non_utf8_names(tmp_path):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    if not hasattr(os, "fsencode") or os.name != "posix":
        pytest.skip("bytes file names are a POSIX thing")
    Image.new("RGB", (40, 40), (1, 2, 3)).save(os.path.join(os.fsencode(folder), b"bad\xff.png"), format="PNG")
    out = tmp_path / "a.jsonl"
    r = run("audit", folder, "--out", out, "--workers", "0", "--no-provenance", "--exit-zero", "--quiet")
    assert r.exit_code == 0
    rec = json.loads(out.read_bytes().decode("utf-8"))  # strict: what any JSON reader expects
    assert os.fsencode(rec["path"]).endswith(b"bad\xff.png")


def test_cli_audit_directory_named_like_an_image_when_not_recursive(corpus, tmp_path):
    root, _ = corpus
    out = tmp_path / "dir.jsonl"
    r = run("audit", root / "folder", "--out", out, "--no-recursive", "--include", "album.jpg", "--workers", "0",
            "--no-provenance")
    assert "Traceback" not in r.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(rec["path"], rec["label"]) for rec in recs] == [(str(root / "folder" / "album.jpg"), "error")]
    assert "is a directory" in recs[0]["error"]


def test_audit_decode_step_sees_files_change_after_listing(corpus):
    """The audit lists a file (size + mtime), then its worker reads it: a file changed, emptied,
    truncated, swapped for a FIFO or deleted in between gets an error record, never a wrong score."""
    from forensics.audit.decode import decode_file
    from forensics.audit.walk import iter_candidates

    root, cases = corpus
    live = [c for c in cases if not c.in_folder and not c.skip]
    assert len(live) >= 5
    listed = {c.path: c for c in iter_candidates([str(root / "live")])}
    problems = []
    for case in live:
        cand = listed[str(case.path)]
        assert cand.error is None, (case.name, cand.error)
        case.before()
        d = decode_file(cand.path, cand.size, cand.mtime, 64_000_000, provenance=False)
        msg = check_outcome(case, label="error" if d.error else "real", error=d.error, notes=d.notes,
                            score=None if d.error else 0.5, audit=True)
        if msg:
            problems.append(f"{case.name}: {msg}")
    assert not problems, "\n".join(problems)


def test_audit_process_pool_on_corpus(corpus, tmp_path):
    """The same corpus with decoding in a worker process (FIFOs, devices and bombs are opened there)."""
    root, cases = corpus
    out = tmp_path / "pool.jsonl"
    bad = [c for c in folder_cases(cases) if c.is_error and not c.directory]
    r = run("audit", root / "folder", "--out", out, "--workers", "1", "--no-provenance", "--exit-zero", "--quiet",
            *[x for c in bad for x in ("--include", os.path.basename(c.file))])
    assert r.exit_code == 2 or r.exit_code == 0, r.stderr  # nothing scored: usage/input exit code allowed
    assert "Traceback" not in r.stderr
    recs = {rec["path"]: rec for rec in map(json.loads, out.read_text().splitlines())}
    problems = []
    for case in bad:
        rec = recs.get(str(case.path))
        msg = "no record" if rec is None else check_outcome(case, label=rec["label"], error=rec["error"], audit=True)
        if msg:
            problems.append(f"{case.name}: {msg}")
    assert not problems, "\n".join(problems)

"""`forensics audit` command line: exit codes, summary, CSV; and the SIGKILL/resume loop."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.forensics.audit.conftest import audit_cli, make_images


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(audit_cli() + args, capture_output=True, text=True, env=env, timeout=300, **kw)


def test_cli_audit_exit_codes_and_outputs(mixed_folder, tmp_path):
    out, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    p = _run([str(mixed_folder), "--out", str(out), "--csv", str(c), "--workers", "1", "--batch-size", "4",
              "--no-provenance"])
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    flagged = any(r["label"] == "fake" for r in recs)
    assert p.returncode == (1 if flagged else 0), p.stderr
    assert "Traceback" not in p.stderr and "errors: 3" in p.stderr and "images/s" in p.stderr
    assert len(recs) == 15 and c.exists() and (tmp_path / "r.summary.json").exists()
    assert p.stdout == ""  # data goes to files; progress and summary to stderr
    p2 = _run([str(mixed_folder), "--out", str(out), "--exit-zero", "--quiet", "--workers", "0"])
    assert p2.returncode == 0 and p2.stderr.strip() == "resuming: 15 records already in " + str(out)
    assert len(out.read_text().splitlines()) == 15
    p3 = _run([str(tmp_path / "nope"), "--out", str(out)])
    assert p3.returncode == 2 and "no such file or directory" in p3.stderr and "Traceback" not in p3.stderr


def _kill_loop(tmp_path: Path, n_images: int, kills_wanted: int, seed: int = 0) -> dict:
    """Start the audit in a real subprocess, SIGKILL it at random moments, resume until complete."""
    rng = random.Random(seed)
    root = tmp_path / "imgs"
    files = make_images(root, n_images, size=32, seed=seed)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    out = tmp_path / "kill.jsonl"
    cmd = audit_cli() + [str(root), "--out", str(out), "--batch-size", "2", "--workers", "1", "--no-provenance",
                         "--quiet", "--exit-zero"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = torn_seen = 0
    tries = 0
    while kills < kills_wanted and tries < kills_wanted * 3:
        tries += 1
        before = out.stat().st_size if out.exists() else 0
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        try:
            t0 = time.monotonic()
            early = rng.random() < 0.25  # sometimes during start-up / repair, mostly while writing
            deadline = t0 + rng.uniform(0.2, 4.0) if early else None
            while proc.poll() is None:
                if deadline is None and out.exists() and out.stat().st_size > before:
                    deadline = time.monotonic() + rng.uniform(0.0, 0.25)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if time.monotonic() - t0 > 120:
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
                if out.exists() and out.read_bytes()[-1:] not in (b"", b"\n"):
                    torn_seen += 1
                # worker processes must die with their parent (no orphans)
                gone = time.monotonic() + 10
                while time.monotonic() < gone:
                    try:
                        os.killpg(proc.pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail("decode workers outlived the killed audit")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    final = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert final.returncode == 0, final.stderr
    data = out.read_bytes()
    assert data.endswith(b"\n")
    recs = [json.loads(line) for line in data.decode().splitlines()]  # every line parses
    paths = [r["path"] for r in recs]
    assert len(paths) == len(set(paths)), "duplicated record"
    assert sorted(paths) == sorted([str(p) for p in files] + [str(root / "broken.png")]), "lost record"
    assert all((r["label"] == "error") == (Path(r["path"]).name == "broken.png") for r in recs)
    return {"kills": kills, "torn_seen": torn_seen, "records": len(recs)}


def test_sigkill_resume_loop_quick(tmp_path):
    info = _kill_loop(tmp_path, n_images=60, kills_wanted=5, seed=1)
    assert info["kills"] >= 5


@pytest.mark.slow
def test_sigkill_resume_loop_20_kills(tmp_path):
    info = _kill_loop(tmp_path, n_images=300, kills_wanted=20, seed=2)
    assert info["kills"] >= 20

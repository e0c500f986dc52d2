"""`forensics audit` command line as a fresh process: exit codes, summary, CSV, resume (kill loops: test_audit_kill)."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
import threading

from tests.forensics.audit.conftest import audit_cli, make_images


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(audit_cli() + args, capture_output=True, text=True, env=env, timeout=300, **kw)


def test_cli_audit_exit_codes_and_outputs(mixed_folder, tmp_path, forkserver):
    out, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    p = _run([str(mixed_folder), "--out", str(out), "--csv", str(c), "--workers", "1", "--batch-size", "4",
              "--no-provenance"])
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    flagged = any(r["label"] == "fake" for r in recs)
    assert p.returncode == (1 if flagged else 0), p.stderr
    assert "Traceback" not in p.stderr and "errors: 3" in p.stderr and "images/s" in p.stderr
    assert len(recs) == 15 and c.exists() and (tmp_path / "r.summary.json").exists()
    assert p.stdout == ""  # data goes to files; progress and summary to stderr
    # resume and a usage error, as forked CLI processes (cheap start-up; same code path)
    err = tmp_path / "p2.err"
    forkserver.start(["audit", str(mixed_folder), "--out", str(out), "--exit-zero", "--quiet", "--workers", "0"],
                     stderr=err)
    assert forkserver.wait_exit() == 0
    assert err.read_text().strip() == "resuming: 15 records already in " + str(out)
    assert len(out.read_text().splitlines()) == 15
    forkserver.start(["audit", str(tmp_path / "nope"), "--out", str(out)], stderr=err)
    assert forkserver.wait_exit() == 2
    assert "no such file or directory" in err.read_text() and "Traceback" not in err.read_text()


def test_cli_progress_bar_on_a_terminal(tmp_path, forkserver):
    """On a terminal, stderr shows a progress bar with images/s (and the total for an ETA)."""
    root = tmp_path / "imgs"
    make_images(root, 30, size=32, seed=9)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        forkserver.start(["audit", str(root), "--out", str(tmp_path / "r.jsonl"), "--workers", "0",
                          "--batch-size", "4", "--no-provenance", "--exit-zero"], stderr=os.ttyname(slave))
        assert forkserver.wait_exit() == 0
    finally:
        os.close(slave)
        reader.join(timeout=5)
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "audit" in text and "img/s" in text and "30/30" in text, text[-2000:]


def test_cli_audit_profile_sets_the_threshold_and_one_file_never_mixes_two(mixed_folder, tmp_path, forkserver):
    """--profile portraits writes records at the profile's threshold; the same --out audited again at the
    shipped threshold is refused with one line (exit 2) and left as it was; an unknown profile is one line."""
    from forensics.detector import shipped_models

    portraits = json.loads((shipped_models()["patch"] / "config.json").read_text())["calibration"]["profiles"][
        "portraits"]["threshold"]
    out, err = tmp_path / "p.jsonl", tmp_path / "p.err"
    forkserver.start(["audit", str(mixed_folder), "--model", "patch", "--out", str(out), "--profile", "portraits", "--exit-zero",
                      "--quiet", "--workers", "0", "--no-provenance"], stderr=err)
    assert forkserver.wait_exit() == 0, err.read_text()
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 15 and {r["threshold"] for r in recs} == {portraits}
    assert all((r["label"] == "fake") == (r["score"] >= portraits) for r in recs if r["label"] != "error")
    before = out.read_bytes()
    forkserver.start(["audit", str(mixed_folder), "--model", "patch", "--out", str(out), "--quiet", "--workers", "0"], stderr=err)
    assert forkserver.wait_exit() == 2
    message = err.read_text().strip()
    assert len(message.splitlines()) == 1 and f"made at threshold {portraits:g}" in message
    assert "write to another --out" in message and out.read_bytes() == before
    forkserver.start(["audit", str(mixed_folder), "--model", "patch", "--out", str(tmp_path / "q.jsonl"), "--profile", "pets",
                      "--quiet", "--workers", "0"], stderr=err)
    assert forkserver.wait_exit() == 2
    assert "no threshold profile 'pets' (profiles: portraits)" in err.read_text()
    assert len(err.read_text().strip().splitlines()) == 1

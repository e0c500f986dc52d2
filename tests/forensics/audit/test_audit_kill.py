"""SIGKILL at random moments, resume, repeat: never a lost, duplicated or torn record.

The audits run as real OS processes (the `forensics` CLI with its own decode worker process),
forked from a pre-imported fork server so that 20+ start-ups stay cheap (see forkserver.py).
"""
from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.forensics.audit.conftest import make_images


def _check_file(out: Path) -> tuple[list[dict], bool]:
    """Complete lines (each must parse, no path twice) and whether a torn tail is present."""
    if not out.exists():
        return [], False
    data = out.read_bytes()
    complete, _, tail = data.rpartition(b"\n")
    recs = [json.loads(line) for line in complete.decode().splitlines()] if complete else []
    paths = [r["path"] for r in recs]
    assert len(paths) == len(set(paths)), "duplicated record"
    return recs, bool(tail)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies waiting for init to reap them count as dead)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _wait_group_gone(pgid: int, seconds: float = 10) -> None:
    """Decode workers must die with their killed parent (no orphans left running)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _group_alive(pgid):
            return
        time.sleep(0.01)
    os.killpg(pgid, signal.SIGKILL)
    pytest.fail("decode workers outlived the killed audit")


def _tear_tail(out: Path, rng: random.Random) -> str:
    """Simulate a power loss: the last line cut mid-way, or a zero-filled tail."""
    data = out.read_bytes()
    if rng.random() < 0.5 and data.count(b"\n") >= 2:
        start = data.rstrip(b"\n").rfind(b"\n") + 1
        cut = rng.randrange(start + 1, len(data) - 1)
        out.write_bytes(data[:cut])
        return "cut"
    with open(out, "ab") as fh:
        fh.write(b"\0" * rng.randint(1, 4096))
    return "zeros"


def test_sigkill_resume_loop(tmp_path, forkserver):
    """>= 20 SIGKILLs at random moments over a few hundred images, resumed each time."""
    rng = random.Random(20260601)
    kills_wanted, n_images = 20, 300
    root = tmp_path / "imgs"
    files = make_images(root, n_images, size=32, seed=3)
    (root / "img0150_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    expected = sorted([str(p) for p in files] + [str(root / "img0150_broken.png")])
    out = tmp_path / "kill.jsonl"
    args = ["audit", str(root), "--out", str(out), "--batch-size", "2", "--workers", "1", "--no-provenance",
            "--quiet", "--exit-zero"]
    kills = tears = early_kills = mid_kills = extra = 0
    startup = 1.0  # seconds from fork to the first new record; refined as we go
    for _ in range(kills_wanted * 3):
        if kills >= kills_wanted:
            break
        done_before = len(_check_file(out)[0])
        size_before = out.stat().st_size if out.exists() else 0
        per_run = (len(expected) - done_before) / (kills_wanted - kills + 2)
        t0 = time.monotonic()
        pid = forkserver.start(args)
        # 1 in 5: during start-up, ledger repair or the first batch; otherwise mid-run, after a
        # random number of new records plus a random fraction of a few batches' time
        early = rng.random() < 0.2
        deadline = t0 + rng.uniform(0.0, 1.2 * startup) if early else None
        target = rng.randint(1, max(1, int(2 * per_run)))
        grew_at = None
        code = None
        while code is None:
            code = forkserver.poll_exit()
            if code is not None:
                break
            now = time.monotonic()
            size = out.stat().st_size if out.exists() else 0
            if grew_at is None and size > size_before:
                grew_at = now
                startup = 0.7 * startup + 0.3 * (now - t0)
            if deadline is None and size > size_before:
                with open(out, "rb") as fh:
                    fh.seek(size_before)
                    if fh.read().count(b"\n") >= target:
                        deadline = now + rng.uniform(0.0, 0.02)
            if deadline is not None and now >= deadline:
                os.kill(pid, signal.SIGKILL)
                code = forkserver.wait_exit()
                break
            assert now - t0 < 120, "audit hung"
            time.sleep(0.002)
        recs, torn = _check_file(out)
        if code == -signal.SIGKILL:
            kills += 1
            mid_kills += grew_at is not None
            early_kills += grew_at is None
            _wait_group_gone(pid)
            if kills % 4 == 1 and recs:  # every 4th kill also loses power: torn or zero-filled tail
                _tear_tail(out, rng)
                tears += 1
        else:  # finished before it was killed: new uploads arrive, the loop goes on
            assert code == 0, f"audit exited with {code}"
            assert len(recs) == len(expected) and not torn
            extra += 1
            more = make_images(root, 40, size=32, seed=100 + extra, prefix=f"new{extra}_")
            expected = sorted(expected + [str(p) for p in more])
    assert kills >= kills_wanted, f"only {kills} kills landed before the audit finished"
    assert mid_kills >= kills_wanted // 2 and tears >= 2
    forkserver.start(args, stderr=tmp_path / "final.err")
    assert forkserver.wait_exit() == 0, (tmp_path / "final.err").read_text()
    data = out.read_bytes()
    assert data.endswith(b"\n"), "torn last line"
    recs = [json.loads(line) for line in data.decode().splitlines()]  # every line is valid JSON
    assert sorted(r["path"] for r in recs) == expected, "lost or duplicated record"
    assert all((r["label"] == "error") == r["path"].endswith("_broken.png") for r in recs)
    assert all(r["label"] == "error" or 0.0 <= r["score"] <= 1.0 for r in recs)
    summ = json.loads((tmp_path / "kill.summary.json").read_text())
    assert summ["records"] == len(expected) and summ["n_errors"] == 1


def test_torn_line_repaired_by_cli(tmp_path, forkserver):
    """A results file ending in half a record (power loss) is repaired on the next run."""
    root = tmp_path / "imgs"
    make_images(root, 6, size=32, seed=4)
    out = tmp_path / "r.jsonl"
    args = ["audit", str(root), "--out", str(out), "--workers", "0", "--no-provenance", "--quiet", "--exit-zero"]
    forkserver.start(args)
    assert forkserver.wait_exit() == 0
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    out.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    forkserver.start(args)
    assert forkserver.wait_exit() == 0
    data = out.read_bytes()
    assert data.startswith(b"".join(lines[:3])) and data.endswith(b"\n")
    recs = [json.loads(line) for line in data.splitlines()]
    assert len(recs) == 6 and len({r["path"] for r in recs}) == 6
    summ = json.loads((tmp_path / "r.summary.json").read_text())
    assert "torn" in (summ["repaired"] or "") and summ["skipped"] == 3 and summ["scored"] == 3

"""The local engine's decode workers start without running the caller's script."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.forensics.audit.conftest import make_images

SCRIPT = textwrap.dedent("""
    # a plain script, as a user writes one: no `if __name__ == "__main__":` guard
    import sys
    import forensics

    print("START", flush=True)
    s = forensics.audit(sys.argv[1], sys.argv[2], workers=2, provenance=False, device="cpu")
    print("RESULT", s.records, s.n_errors, __file__ == sys.argv[0], __spec__ is None, flush=True)
""")


def test_audit_from_a_script_without_main_guard_runs_once_and_works(tmp_path):
    folder = tmp_path / "imgs"
    make_images(folder, 5)
    (folder / "bad.png").write_bytes(b"not an image")
    script = tmp_path / "moderate.py"
    script.write_text(SCRIPT)
    repo = str(Path(__file__).resolve().parents[3])  # this checkout's forensics, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, str(script), str(folder), str(tmp_path / "out.jsonl")], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "BrokenProcessPool" not in r.stderr
    assert r.stdout.splitlines() == ["START", "RESULT 6 1 True True"], r.stdout  # ran once; __main__ restored

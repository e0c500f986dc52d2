"""A tiny fork server for kill/resume loops: import the CLI once, fork one real audit process per request.

Starting `python -m forensics audit` costs seconds (torch + timm imports) on a small machine, which
would dominate a loop of 20+ SIGKILLs. This script pays the imports once, then for every request
line (JSON: {"args": [CLI arguments], "stderr": optional file}) on stdin forks a child that runs exactly the `forensics` CLI
(`forensics.cli.main.app`) in its own session, prints `pid <pid>`, waits for it and prints
`exit <code>` (a negative code: killed by that signal). The test SIGKILLs the child, a real OS
process with its own decode worker processes, exactly as it would a freshly started CLI.

Run as a script: `python tests/forensics/audit/forkserver.py`. Heavy imports happen inside
`main()` only, so the CLI's spawned decode workers (which re-import `__main__` as `__mp_main__`)
stay light.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional


class ForkServer:
    """Client of forkserver.py: start one CLI run, poll or wait for its exit code."""

    def __init__(self) -> None:
        # CPU only: CUDA cannot be used in a child forked after the parent touched the driver, and this
        # harness forks every run from one warm parent. The CUDA audit path runs in freshly started
        # processes (test_audit_cli's first run on a GPU machine; benchmarks/gpu_check.py).
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3], env=env)
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._next(180) == "ready"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("eof")

    def _next(self, timeout: float) -> str:
        line = self.lines.get(timeout=timeout)
        assert line != "eof", "fork server died"
        return line

    def start(self, args: list[str], stderr: Optional[Path] = None) -> int:
        """Fork one `forensics ARGS...` run; returns its pid."""
        assert self.proc.stdin is not None
        req = {"args": args, "stderr": str(stderr) if stderr else None}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        kind, pid = self._next(60).split()
        assert kind == "pid"
        return int(pid)

    def poll_exit(self) -> Optional[int]:
        try:
            kind, code = self.lines.get_nowait().split()
        except queue.Empty:
            return None
        assert kind == "exit"
        return int(code)

    def wait_exit(self, timeout: float = 120) -> int:
        kind, code = self._next(timeout).split()
        assert kind == "exit"
        return int(code)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _child(args: list[str], stderr: str | None) -> None:
    """In the forked child: new session, quiet stdio (stderr to a file if asked), run the CLI."""
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if stderr:
        os.dup2(os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
    code = 0
    try:
        from forensics.cli.main import app

        app(args=args, prog_name="forensics", standalone_mode=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        code = 99
    os._exit(code)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    import forensics.audit  # noqa: F401  (pre-import everything the audit path needs)
    import forensics.audit.ledger  # noqa: F401
    import forensics.audit.local  # noqa: F401
    import forensics.audit.summary  # noqa: F401
    import forensics.cli.audit_cmd  # noqa: F401
    import forensics.cli.main  # noqa: F401
    import forensics.detector  # noqa: F401
    import forensics.models  # noqa: F401
    from forensics.detector import Detector

    det = Detector.load(device="cpu")  # warm-up: lazy imports and first-build caches (no forward pass)
    from forensics.audit.backend import cached_onnx, onnx_available

    if onnx_available():  # export once into $FORENSICS_CACHE; each child opens its own session
        import onnxruntime  # noqa: F401

        cached_onnx(det)

    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req["args"], req.get("stderr"))
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    main()

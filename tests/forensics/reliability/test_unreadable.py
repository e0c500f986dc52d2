"""An unreadable file (mode 000). As root, permissions do not stop reads, so the corpus cannot make
this case; here the reading happens in a child process that drops to an unprivileged user."""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from forensics.audit.decode import decode_file
from forensics.decoding import ImageDecodeError, load_image


def _outcomes(path: Path) -> dict[str, str]:
    out = {}
    try:
        load_image(path)  # what `scan`, `train` and `eval` call
        out["scan"] = "decoded"
    except ImageDecodeError as e:
        out["scan"] = str(e)
    st = None
    try:
        st = os.stat(path)
    except OSError:
        pass
    d = decode_file(str(path), st.st_size if st else None, st.st_mtime if st else None, 10**8, provenance=False)
    out["audit"] = d.error or "decoded"
    return out


def _as_nobody(path: Path) -> dict[str, str]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, json.dumps(_outcomes(path)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file_gives_permission_denied():
    base = Path(tempfile.mkdtemp(prefix="forensics-unreadable-"))  # under /tmp: traversable by everyone
    try:
        os.chmod(base, 0o755)
        p = base / "secret.png"
        Image.new("RGB", (40, 30), (1, 2, 3)).save(p)
        os.chmod(p, 0)
        if os.geteuid() == 0:
            if not hasattr(os, "fork"):
                pytest.skip("root without fork: cannot read as another user")
            got = _as_nobody(p)
        else:
            got = _outcomes(p)
        assert got == {"scan": "permission denied", "audit": "permission denied"}
    finally:
        for q in base.iterdir():
            os.chmod(q, stat.S_IRWXU)
        shutil.rmtree(base, ignore_errors=True)

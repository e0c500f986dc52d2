"""Safe checkpoints: `model.safetensors` + `config.json`, written atomically, validated on load."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT = "forensics-detector"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")


class CheckpointError(Exception):
    """A model directory that cannot be loaded safely; the message says why."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + fsync + rename: never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_state(state: dict[str, torch.Tensor], path: Path, *, dtype: torch.dtype | None = None,
               metadata: dict[str, str] | None = None) -> None:
    """Atomically save a flat tensor dict as safetensors (optionally cast floats to `dtype`)."""
    path = Path(path)
    out = {}
    for k, v in state.items():
        t = v.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[k] = t.contiguous()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(out, tmp, metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(model_dir: Path, state: dict[str, torch.Tensor], config: dict[str, Any],
                    *, dtype: torch.dtype | None = None) -> Path:
    """Write weights then config (config last, so a readable config implies complete weights)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "format_version": 1, "weights": WEIGHTS_NAME, **config}
    save_state(state, model_dir / WEIGHTS_NAME, dtype=dtype)
    atomic_write_json(model_dir / CONFIG_NAME, config)
    return model_dir


def _inside(base: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(base.resolve())
        return True
    except ValueError:
        return False


def read_config(model_dir: Path) -> dict[str, Any]:
    """Read and validate config.json in a model directory."""
    model_dir = Path(model_dir)
    if model_dir.is_file():
        if model_dir.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{model_dir}: refusing to load a pickle-based checkpoint ({model_dir.suffix}); "
                "pickles can run arbitrary code. Convert it to model.safetensors + config.json.")
        raise CheckpointError(f"{model_dir}: expected a model directory holding {WEIGHTS_NAME} and {CONFIG_NAME}")
    if not model_dir.is_dir():
        raise CheckpointError(f"{model_dir}: model directory not found")
    cfg_path = model_dir / CONFIG_NAME
    if not cfg_path.is_file():
        raise CheckpointError(f"{model_dir}: no {CONFIG_NAME} in model directory")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_path}: invalid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path}: config must be a JSON object")
    if cfg.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: not a forensics detector config (format={cfg.get('format')!r})")
    weights = cfg.get("weights", WEIGHTS_NAME)
    if not isinstance(weights, str) or not _inside(model_dir, model_dir / weights):
        raise CheckpointError(f"{cfg_path}: weights path {weights!r} escapes the model directory")
    if Path(weights).suffix.lower() != ".safetensors":
        raise CheckpointError(f"{cfg_path}: weights must be a .safetensors file, got {weights!r}")
    return cfg


def read_state(model_dir: Path, cfg: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Load the safetensors weights named by a validated config and check they are finite."""
    path = Path(model_dir) / cfg.get("weights", WEIGHTS_NAME)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file missing")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt safetensors file ({str(e).splitlines()[0]})") from None
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k!r} contains NaN or infinite values")
    return state


def check_number(cfg: dict[str, Any], key: str, lo: float, hi: float) -> float:
    v = cfg.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
        raise CheckpointError(f"config field {key!r} must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)

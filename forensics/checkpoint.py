"""Safe checkpoints: `model.safetensors` + `config.json`, written atomically, validated on load."""
from __future__ import annotations

import glob
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from forensics.fileio import replaced_atomically, write_atomically

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT = "forensics-detector"
FUSED_FORMAT = "forensics-fused"  # patch model + pretrained branch (forensics.pretrained.fused)
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")
FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 16 * 1024 * 1024
STALE_TEMP_SECONDS = 15 * 60  # a temp file this old belongs to a writer that was killed


class CheckpointError(Exception):
    """A model directory that cannot be loaded safely; the message says why."""


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(path: Path, *, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete temp files of earlier writes of `path` that were killed before their rename
    (`.NAME.*.tmp` in the same directory, older than `older_than` seconds)."""
    path = Path(path)
    removed = []
    now = time.time()
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        try:
            if tmp.is_file() and not tmp.is_symlink() and now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + fsync + rename: never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    write_atomically(path, data)
    _fsync_dir(path.parent)


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
    remove_stale_temps(path)
    with replaced_atomically(path) as tmp:
        save_file(out, tmp, metadata=metadata)
    _fsync_dir(path.parent)


def save_checkpoint(model_dir: Path, state: dict[str, torch.Tensor], config: dict[str, Any],
                    *, dtype: torch.dtype | None = None) -> Path:
    """Write weights then config (config last, so a readable config implies complete weights)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "weights": WEIGHTS_NAME, **config}
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
        try:
            pickles = sorted(p.name for p in model_dir.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)[:3]
        except OSError:
            pickles = []
        if pickles:
            raise CheckpointError(
                f"{model_dir}: no {CONFIG_NAME}; it holds only pickle-based checkpoints ({', '.join(pickles)}), "
                "which are never loaded because unpickling can run arbitrary code. "
                f"Convert them to {WEIGHTS_NAME} + {CONFIG_NAME}.")
        raise CheckpointError(f"{model_dir}: no {CONFIG_NAME} in model directory")
    try:
        size = cfg_path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{cfg_path}: config is {size} bytes, over the limit of {MAX_CONFIG_BYTES}")
        cfg = json.loads(cfg_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_path}: invalid JSON ({e})") from None
    except RecursionError:
        raise CheckpointError(f"{cfg_path}: invalid JSON (nested too deeply)") from None
    except OSError as e:
        raise CheckpointError(f"{cfg_path}: cannot read config ({e.strerror or e})") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path}: config must be a JSON object")
    if cfg.get("format") not in (FORMAT, FUSED_FORMAT):
        raise CheckpointError(f"{cfg_path}: not a forensics detector config (format={cfg.get('format')!r})")
    version = cfg.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{cfg_path}: unsupported format_version {version!r} "
                              f"(this version of forensics reads up to {FORMAT_VERSION})")
    if cfg["format"] == FUSED_FORMAT:  # no weights of its own: a patch model folder and a probe file
        probe = cfg.get("clip", {}).get("probe", "probe.safetensors") if isinstance(cfg.get("clip"), dict) else None
        if not isinstance(probe, str) or not _inside(model_dir, model_dir / probe):
            raise CheckpointError(f"{cfg_path}: clip.probe must name a file inside the model directory")
        kinds = cfg.get("kinds") or []
        if not isinstance(kinds, list) or not all(isinstance(k, dict) for k in kinds):
            raise CheckpointError(f"{cfg_path}: kinds must be a list of objects")
        for k in kinds:
            expert = k.get("expert")
            if expert is not None and not isinstance(expert, dict):
                raise CheckpointError(f"{cfg_path}: kinds[].expert must be an object")
            files = [("kinds[].probe", k.get("probe", f"kind_{k.get('name')}.safetensors"))]
            if expert is not None:
                files.append(("kinds[].expert.probe", expert.get("probe", f"kind_{k.get('name')}_expert.safetensors")))
            for key, file in files:
                if not isinstance(file, str) or not _inside(model_dir, model_dir / file) \
                        or Path(file).suffix.lower() != ".safetensors":
                    raise CheckpointError(f"{cfg_path}: {key} must name a .safetensors file inside the model directory")
        return cfg
    weights = cfg.get("weights", WEIGHTS_NAME)
    if not isinstance(weights, str) or not _inside(model_dir, model_dir / weights):
        raise CheckpointError(f"{cfg_path}: weights path {weights!r} escapes the model directory")
    if Path(weights).suffix.lower() != ".safetensors":
        why = " (pickle-based formats are never loaded: they can run arbitrary code)" \
            if Path(weights).suffix.lower() in PICKLE_SUFFIXES else ""
        raise CheckpointError(f"{cfg_path}: weights must be a .safetensors file, got {weights!r}{why}")
    return cfg


def require_trained(model_dir: Path, cfg: dict[str, Any]) -> None:
    """Refuse a training start point (`forensics import-backbone`: pretrained trunk, untrained head) where a
    trained detector is needed: to scan, to mine hard examples, to teach a distilled stage."""
    if cfg.get("start_point"):
        raise CheckpointError(f"{model_dir}: a training start point (imported backbone, untrained head), "
                              "not a detector; train from it with --init-from")


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


def _int_field(d: dict[str, Any], key: str, lo: int, hi: int, where: str) -> None:
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CheckpointError(f"config field {where}{key!r} must be an integer in [{lo}, {hi}], got {v!r}")


def validate_config(cfg: dict[str, Any]) -> None:
    """Check the fields a detector config feeds into inference (types and ranges), so a hostile or
    damaged config fails at load time with a clear message instead of hanging, exhausting memory or
    producing NaN scores later."""
    from forensics.aggregate import AGGREGATIONS

    arch = cfg.get("arch")
    if not isinstance(arch, str) or not arch:
        raise CheckpointError(f"config field 'arch' must be an architecture name, got {arch!r}")
    for key in ("input_filter", "aggregation", "model_id"):
        if key in cfg and cfg[key] is not None and not isinstance(cfg[key], str):
            raise CheckpointError(f"config field {key!r} must be a string, got {cfg[key]!r}")
    if cfg.get("head_hidden") is not None:
        _int_field(cfg, "head_hidden", 0, 4096, "")
    agg = cfg.get("aggregation", "mean_prob")
    if agg not in AGGREGATIONS:
        raise CheckpointError(f"config field 'aggregation' is {agg!r}; choose one of {', '.join(AGGREGATIONS)}")
    if "topk_fraction" in cfg:
        check_number(cfg, "topk_fraction", 1e-6, 1.0)
    scaling = cfg.get("score_scaling")
    if scaling is not None:
        if not isinstance(scaling, dict):
            raise CheckpointError(f"config field 'score_scaling' must be an object or null, got {scaling!r}")
        check_number(scaling, "slope", 1e-6, 100.0)
        check_number(scaling, "intercept", -100.0, 100.0)
    if "threshold" in cfg:
        check_number(cfg, "threshold", 0.0, 1.0)
    if "temperature" in cfg:
        check_number(cfg, "temperature", 1e-3, 1e3)
    if isinstance(cfg.get("calibration"), dict):
        threshold_profiles(cfg["calibration"])
    pre = cfg.get("preprocessing")
    if pre is None:
        return
    if not isinstance(pre, dict):
        raise CheckpointError(f"config field 'preprocessing' must be an object, got {pre!r}")
    for key, lo, hi in (("mean", -10.0, 10.0), ("std", 1e-6, 1e3)):
        if key not in pre:
            continue
        v = pre[key]
        if (not isinstance(v, (list, tuple)) or len(v) != 3
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                           and lo <= x <= hi for x in v)):
            raise CheckpointError(f"config field preprocessing.{key} must be 3 finite numbers in [{lo}, {hi}], got {v!r}")
    if "tile" in pre:
        _int_field(pre, "tile", 32, 16384, "preprocessing.")
    tile = pre.get("tile", 1024)
    if "tile_overlap" in pre:
        _int_field(pre, "tile_overlap", 0, tile // 2, "preprocessing.")
    if "min_side" in pre:
        _int_field(pre, "min_side", 1, tile, "preprocessing.")


def runner_up_threshold(calibration: Optional[dict], threshold: float) -> Optional[tuple[float, str]]:
    """Where the verdict threshold is the highest of several per-source thresholds (the model card's
    "max over real sources" rule): (the threshold every other real source would set, the source that
    sets the verdict threshold). None without such a record, or when `threshold` is not that maximum."""
    per_source = (calibration or {}).get("per_source_threshold") or {}
    if len(per_source) < 2:
        return None
    (strictest, top), (_, second) = sorted(per_source.items(), key=lambda kv: kv[1], reverse=True)[:2]
    if abs(float(top) - threshold) > 1e-6 or not float(second) < threshold:
        return None
    return float(second), str(strictest)


def threshold_profiles(calibration: Optional[dict]) -> dict[str, float]:
    """Named thresholds a model was calibrated for on one kind of real photo ({name: threshold}), from
    its calibration record's "profiles" ({name: {"threshold": ..., "sources": [...], "what": ...}});
    empty when it has none. A profile without a threshold in [0, 1] is a CheckpointError."""
    profiles = (calibration or {}).get("profiles") or {}
    if not isinstance(profiles, dict):
        raise CheckpointError("config field 'calibration.profiles' must be an object")
    out = {}
    for name, entry in profiles.items():
        t = entry.get("threshold") if isinstance(entry, dict) else None
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or not 0.0 <= t <= 1.0:
            raise CheckpointError(f"config field 'calibration.profiles.{name}.threshold' must be a number in "
                                  f"[0.0, 1.0], got {t!r}")
        out[str(name)] = float(t)
    return out


def profile_threshold(calibration: Optional[dict], name: str, model_id: str) -> float:
    """The threshold of profile `name` (`threshold_profiles`); a ValueError naming the profiles there are
    when `model_id`'s calibration record has no such profile."""
    profiles = threshold_profiles(calibration)
    if name not in profiles:
        have = ", ".join(sorted(profiles)) or "none"
        raise ValueError(f"model {model_id} has no threshold profile {name!r} (profiles: {have})")
    return profiles[name]

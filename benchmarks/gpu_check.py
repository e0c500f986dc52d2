"""Check the CUDA path and measure GPU throughput on a machine with a GPU.

    python benchmarks/gpu_check.py --data DIR --out reports/gpu [--quick]

DIR holds image folders `real/<source>/...` and `fake/<source>/...` (a subset of ../shared/data
does). Each section is recorded even when another one fails:

  agreement   CPU vs CUDA scores and verdicts of the shipped detectors, cuDNN TF32 on and off
  model       model-only images/s at 256 px: fp32, TF32, bf16 autocast; vs a full ResNet-50
  audit       end-to-end `forensics audit` images/s on the GPU vs the CPU of the same machine
  train       detector training on CUDA (with hard-real mining), a resume, the run loaded on the CPU
  generators  images/s sampled per bundled generator on CUDA vs CPU, and how far the samples differ

Writes OUT/gpu_check.json and OUT/gpu_check.md. Figures are ratios measured in one run.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
DEV = "cuda"  # the accelerator under test; --device cpu smoke-tests this script without one

def labelled_files(data: Path) -> list[tuple[Path, str, str]]:
    """(path, label, source) for every image under data/real and data/fake, sorted."""
    out = []
    for label in ("real", "fake"):
        for p in sorted((data / label).rglob("*")):
            if p.suffix.lower() in IMAGE_EXT:
                out.append((p, label, p.parent.name))
    return out

def set_tf32(enabled: bool) -> None:
    import torch

    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled

def sync() -> None:
    import torch

    if DEV.startswith("cuda"):
        torch.cuda.synchronize()

def timed(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of fn after 3 warm-up calls, over at least `seconds`."""
    for _ in range(3):
        fn()
    sync()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if n % 5 == 0:
            sync()
            dt = time.perf_counter() - t0
            if dt >= seconds:
                return n / dt

# ---------------------------------------------------------------------------- agreement
def section_agreement(files: list[tuple[Path, str, str]], quick: bool) -> dict[str, Any]:
    from forensics.detector import Detector

    paths = [str(p) for p, _, _ in files]
    out: dict[str, Any] = {"images": len(paths)}
    for name in ("default", "fast"):
        cpu = Detector.load(name, device="cpu")
        ref = list(cpu.scan_many(paths, batch_size=16, provenance=False))
        ref_scores = np.array([r.score if r.score is not None else np.nan for r in ref])
        rec: dict[str, Any] = {"threshold": cpu.threshold, "errors_cpu": int(sum(r.is_error for r in ref))}
        margin = np.abs(ref_scores - cpu.threshold)
        closest = int(np.nanargmin(margin))
        rec["closest_to_threshold"] = {"file": paths[closest], "cpu_score": float(ref_scores[closest])}
        for tf32 in (False, True):
            set_tf32(tf32)
            gpu = Detector.load(name, device=DEV)
            res = list(gpu.scan_many(paths, batch_size=16, provenance=False))
            s = np.array([r.score if r.score is not None else np.nan for r in res])
            d = np.abs(s - ref_scores)
            rec["tf32" if tf32 else "fp32"] = {
                "max_abs_diff": float(np.nanmax(d)), "mean_abs_diff": float(np.nanmean(d)),
                "identical_6dp": int(np.sum(d < 5e-7)), "verdicts_differ": int(sum(a.label != b.label for a, b in zip(ref, res))),
                "closest_file_score": float(s[closest]), "errors": int(sum(r.is_error for r in res))}
            del gpu
        set_tf32(False)
        out[name] = rec
    return out

# ---------------------------------------------------------------------------- model-only
def load_models(device: str) -> dict[str, Any]:
    import torch

    from forensics.detector import Detector
    from forensics.models import build_model

    dets = {n: Detector.load(n, device=device) for n in ("default", "fast")}
    cfg = copy.deepcopy(dets["default"].config)
    cfg.update(arch="resnet50_full", input_filter="none", model_id="resnet50_full (random weights)")
    torch.manual_seed(0)
    dets["resnet50_full"] = Detector(build_model("resnet50_full"), cfg, device=torch.device(device))
    return dets

def section_model(quick: bool) -> dict[str, Any]:
    import torch

    dets = load_models(DEV)
    seconds = 0.5 if quick else 1.5
    out: dict[str, Any] = {"size": 256, "rows": []}
    modes = ("fp32", "tf32", "bf16", "bf16_channels_last")
    for batch in (64, 256):
        x0 = torch.randn(batch, 3, 256, 256, device=DEV)
        for name, det in dets.items():
            for mode in modes:
                set_tf32(mode == "tf32")
                net = det.model
                x = x0
                if mode.endswith("channels_last"):
                    net = copy.deepcopy(det.model).to(memory_format=torch.channels_last)
                    x = x0.contiguous(memory_format=torch.channels_last)

                def step(net=net, x=x, mode=mode) -> None:
                    with torch.inference_mode(), torch.autocast(torch.device(DEV).type, torch.bfloat16, enabled=mode.startswith("bf16")):
                        net(x)

                rate = timed(step, seconds) * batch
                out["rows"].append({"model": name, "batch": batch, "mode": mode, "images_per_s": rate})
        set_tf32(False)
    # the serving path: uint8 numpy batch -> preprocessing -> H2D -> forward -> scores (fp32)
    rng = np.random.default_rng(0)
    batch_np = rng.integers(0, 256, (64, 256, 256, 3), dtype=np.uint8)
    for name, det in dets.items():
        rate = timed(lambda det=det: det._forward(batch_np), seconds) * 64
        out["rows"].append({"model": name, "batch": 64, "mode": "fp32 _forward(uint8)", "images_per_s": rate})
    if DEV.startswith("cuda"):
        out["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out

# ---------------------------------------------------------------------------- audit
def section_audit(files: list[tuple[Path, str, str]], work: Path, quick: bool) -> dict[str, Any]:
    from forensics.audit import audit
    from forensics.detector import Detector

    copies = 1 if quick else 4
    folder = work / "auditset"
    for c in range(copies):
        for i, (p, _, _) in enumerate(files):
            dst = folder / f"c{c}" / f"{i:05d}{p.suffix.lower()}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)
    n_all = copies * len(files)
    workers = max(1, (os.cpu_count() or 2) - 1)
    out: dict[str, Any] = {"images": n_all, "workers": workers, "rows": []}
    runs = [(DEV, "torch", 16, [folder]), (DEV, "torch", 64, [folder]),
            ("cpu", "auto", 16, [folder / "c0"])]
    for device, backend, batch, roots in runs:
        det = Detector.load("default", device=device)
        res = work / f"audit_{device}_{batch}.jsonl"
        t0 = time.perf_counter()
        summary = audit(roots, res, detector=det, device=device, backend=backend, batch_size=batch,
                        workers=workers, provenance=False, progress=False)
        dt = time.perf_counter() - t0
        n = sum(1 for _ in res.open())
        out["rows"].append({"device": device, "backend": backend, "batch": batch, "images": n,
                            "seconds": dt, "images_per_s": n / dt,
                            "counts": dict(summary.counts), "errors": summary.n_errors})
    # the same files scored on both devices must get the same records
    def scores(path: Path) -> dict[str, float]:
        recs = [json.loads(line) for line in path.open()]
        return {Path(r["path"]).name: r["score"] for r in recs if "/c0/" in r["path"]}

    a, b = scores(work / f"audit_{DEV}_16.jsonl"), scores(work / "audit_cpu_16.jsonl")
    common = sorted(set(a) & set(b))
    diffs = [abs(a[k] - b[k]) for k in common if a[k] is not None and b[k] is not None]
    out["cpu_vs_cuda"] = {"files": len(common), "max_abs_diff": max(diffs) if diffs else None}
    return out

# ---------------------------------------------------------------------------- train
def section_train(data: Path, work: Path, quick: bool) -> dict[str, Any]:
    from forensics.detector import Detector
    from forensics.training.train import TrainConfig, train

    real = [str(d) for d in sorted((data / "real").iterdir()) if d.is_dir()]
    fake = [str(d) for d in sorted((data / "fake").iterdir()) if d.is_dir()]
    workers = max(1, min(12, (os.cpu_count() or 2) - 2))
    steps = 20 if quick else 100
    base = dict(real=real, fake=fake, arch="resnet18_layer3_slim", input_filter="residual", steps_per_epoch=steps,
                batch_size=64, size=64, val_size=128, val_per_source=10, augment="mild", lr=2e-4,
                progress=False, workers=workers, selection="last", lr_schedule="cosine", small_fraction=0.3,
                reencode_fraction=0.2, init_from=str(REPO / "forensics" / "weights" / "patch"),
                hard_real_share=0.3, patience=1000)
    out: dict[str, Any] = {"steps_per_epoch": steps, "batch_size": 64, "crop": 64, "workers": workers}
    for device, epochs, n_steps in ((DEV, 2, steps), ("cpu", 1, max(10, steps // 4))):
        run = work / f"train_{device}_{n_steps}"
        t0 = time.perf_counter()
        train(TrainConfig(out=str(run), device=device, epochs=epochs, **{**base, "steps_per_epoch": n_steps}))
        hist = json.loads((run / "metrics.json").read_text()).get("history", [])
        out[f"{device}_{n_steps}_steps"] = {
            "seconds": time.perf_counter() - t0, "epochs": len(hist), "epoch_seconds": [h["seconds"] for h in hist],
            "seconds_per_step_upper_bound": min(h["seconds"] for h in hist) / n_steps,
            "val_ap": [h["val_ap"] for h in hist]}
    # resume the CUDA run for a third epoch
    run = work / f"train_{DEV}_{steps}"
    train(TrainConfig(out=str(run), device=DEV, epochs=3, **base))
    hist = json.loads((run / "metrics.json").read_text()).get("history", [])
    out["resume"] = {"epochs_after": len(hist), "epochs": [h["epoch"] for h in hist]}
    # the CUDA-trained run loads and scores on the CPU, and agrees with CUDA
    files = [str(p) for p, _, _ in labelled_files(data)][:40]
    s_cpu = [r.score for r in Detector.load(run, device="cpu").scan_many(files, provenance=False)]
    s_gpu = [r.score for r in Detector.load(run, device=DEV).scan_many(files, provenance=False)]
    out["run_on_cpu"] = {"files": len(files), "errors": sum(s is None for s in s_cpu),
                         "max_abs_diff_vs_cuda": max(abs(a - b) for a, b in zip(s_cpu, s_gpu))}
    return out

# ---------------------------------------------------------------------------- generators
def section_generators(quick: bool) -> dict[str, Any]:

    from generators import list_generators, load_generator
    from generators import default_weights_dir

    out: dict[str, Any] = {"rows": []}
    for name in list_generators():
        gen = load_generator(default_weights_dir(name))
        n_cmp = 16 if quick else 64
        n_gpu = 64 if quick else 512
        t0 = time.perf_counter()
        a = gen.sample(n_cmp, seed=7, device="cpu")
        cpu_rate = n_cmp / (time.perf_counter() - t0)
        gen.sample(8, seed=1, device=DEV)  # warm-up
        b = gen.sample(n_cmp, seed=7, device=DEV)
        sync()
        t0 = time.perf_counter()
        gen.sample(n_gpu, seed=11, device=DEV, batch_size=256)
        sync()
        gpu_rate = n_gpu / (time.perf_counter() - t0)
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        # training steps on CUDA from the family's default config (timing only; not saved)
        fresh = type(gen)()
        res = fresh.resolution
        arr = np.random.default_rng(0).integers(0, 256, (256, res, res, 3), dtype=np.uint8)
        steps = 10 if name == "gmm" else 30
        t0 = time.perf_counter()
        fresh.fit(arr, steps=steps, device=DEV, progress=False)
        sync()
        fit_rate = steps / (time.perf_counter() - t0)
        out["rows"].append({"generator": name, "resolution": gen.resolution, "cpu_images_per_s": cpu_rate,
                            "cuda_images_per_s": gpu_rate, "compared": n_cmp, "max_pixel_diff": int(d.max()),
                            "mean_pixel_diff": float(d.mean()), "pixels_differ_gt1": float((d > 1).mean()),
                            "train_steps_per_s_cuda": fit_rate})
    return out

# ---------------------------------------------------------------------------- report
def environment() -> dict[str, Any]:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
           "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1), sm_count=p.multi_processor_count)
    return env

def _agreement_md(sec: dict[str, Any]) -> list[str]:
    lines = [f"{sec['images']} images scored on the CPU and on CUDA (cuDNN TF32 off / allowed, PyTorch's default).", "",
             "| model | cuDNN TF32 | max abs score diff | mean abs diff | identical to 6 decimals | verdicts differ | closest real photo (CPU score / threshold) |",
             "|---|---|---|---|---|---|---|"]
    for name in ("default", "fast"):
        m = sec[name]
        c = m["closest_to_threshold"]
        for mode, label in (("fp32", "off"), ("tf32", "allowed")):
            r = m[mode]
            lines.append(f"| {name} | {label} | {r['max_abs_diff']:.1e} | {r['mean_abs_diff']:.1e} | "
                         f"{r['identical_6dp']}/{sec['images']} | {r['verdicts_differ']} | "
                         f"{Path(c['file']).name}: {c['cpu_score']:.6f} -> {r['closest_file_score']:.6f} / {m['threshold']} |")
    return lines


def _model_md(sec: dict[str, Any]) -> list[str]:
    rows = sec["rows"]
    lines = [f"Model-only images/s at {sec['size']} px (inputs already on the GPU), and ratio to a full ResNet-50 "
             "in the same mode. The last block is the serving path `Detector._forward`: uint8 batch on the CPU, "
             "normalised, copied to the GPU, scored in fp32.", "",
             "| model | batch | mode | images/s | x ResNet-50 |", "|---|---|---|---|---|"]
    r50 = {(r["batch"], r["mode"]): r["images_per_s"] for r in rows if r["model"] == "resnet50_full"}
    for r in rows:
        ratio = r["images_per_s"] / r50[(r["batch"], r["mode"])] if (r["batch"], r["mode"]) in r50 else float("nan")
        lines.append(f"| {r['model']} | {r['batch']} | {r['mode']} | {r['images_per_s']:,.0f} | {ratio:.1f} |")
    if "peak_memory_mb" in sec:
        lines += ["", f"Peak GPU memory over the section: {sec['peak_memory_mb']:,.0f} MB."]
    return lines


def _audit_md(sec: dict[str, Any]) -> list[str]:
    lines = [f"`forensics.audit.audit` over {sec['images']} files (the data set copied {sec['images'] // max(1, sec['rows'][-1]['images'])} times; "
             f"mixed sizes, 178 px to 768 px), {sec['workers']} decode processes, no provenance.", "",
             "| device | backend | batch | images | seconds | images/s |", "|---|---|---|---|---|---|"]
    for r in sec["rows"]:
        lines.append(f"| {r['device']} | {r['backend']} | {r['batch']} | {r['images']} | {r['seconds']:.1f} | {r['images_per_s']:.0f} |")
    cv = sec["cpu_vs_cuda"]
    lines += ["", f"Same files, CPU vs CUDA records: max abs score difference {cv['max_abs_diff']:.1e} over {cv['files']} files."]
    return lines


def _train_md(sec: dict[str, Any]) -> list[str]:
    lines = [f"`forensics.training.train.train`, resnet18_layer3_slim, batch {sec['batch_size']}, {sec['crop']} px crops, "
             f"{sec['workers']} loader processes, warm-started from the default with hard-real mining. "
             "Seconds per step include the epoch's (small) validation, so they are upper bounds.", "",
             "| run | epochs | epoch seconds | s/step (upper bound) |", "|---|---|---|---|"]
    for k, v in sec.items():
        if isinstance(v, dict) and "epoch_seconds" in v:
            lines.append(f"| {k} | {v['epochs']} | {', '.join(str(x) for x in v['epoch_seconds'])} | {v['seconds_per_step_upper_bound']:.3f} |")
    r, c = sec["resume"], sec["run_on_cpu"]
    lines += ["", f"Resumed for a third epoch: epochs recorded {r['epochs']}. The CUDA-trained run loaded on the CPU "
              f"scored {c['files']} files with {c['errors']} errors, max abs difference to CUDA {c['max_abs_diff_vs_cuda']:.1e}."]
    return lines


def _generators_md(sec: dict[str, Any]) -> list[str]:
    lines = ["Sampling images/s per bundled generator (CPU: all cores of the same machine), the same seeds on both "
             "devices compared pixel by pixel, and training steps/s on CUDA from the family's default config.", "",
             "| generator | px | CPU images/s | CUDA images/s | x | max pixel diff | pixels differing | CUDA train steps/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sec["rows"]:
        lines.append(f"| {r['generator']} | {r['resolution']} | {r['cpu_images_per_s']:,.0f} | {r['cuda_images_per_s']:,.0f} | "
                     f"{r['cuda_images_per_s'] / r['cpu_images_per_s']:.1f} | {r['max_pixel_diff']} | "
                     f"{r['mean_pixel_diff'] * 100:.4f}% by 1 level | {r['train_steps_per_s_cuda']:.1f} |")
    return lines


RENDERERS = {"agreement": _agreement_md, "model": _model_md, "audit": _audit_md, "train": _train_md,
             "generators": _generators_md}


def render(res: dict[str, Any]) -> str:
    env = res["environment"]
    lines = ["# GPU check: the CUDA path and GPU throughput", "",
             f"Machine: {env.get('gpu', 'no GPU')} ({env.get('gpu_memory_gb', '?')} GB), {env['cpus']} CPU cores; "
             f"torch {env['torch']}, Python {env['python']}. Produced by `benchmarks/gpu_check.py`; "
             "ratios are measured in the same run on the same machine.", ""]
    if res.get("notes"):
        lines += [*res["notes"], ""]
    for name, sec in res["sections"].items():
        lines += [f"## {name}", ""]
        if "error" in sec:
            lines += ["Failed:", "", "```", sec["error"].strip()[-2000:], "```", ""]
            continue
        key = name.split(" ")[0]
        try:
            lines += RENDERERS[key](sec) if key in RENDERERS else ["```json", json.dumps(sec, indent=1), "```"]
        except (KeyError, TypeError, ZeroDivisionError) as e:
            lines += [f"(could not render: {e})", "```json", json.dumps(sec, indent=1, default=float)[:4000], "```"]
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder with real/<source> and fake/<source> images")
    ap.add_argument("--out", type=Path, default=REPO / "reports")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    ap.add_argument("--sections", default="agreement,model,audit,train,generators")
    ap.add_argument("--device", default="cuda", help="device under test (cpu only smoke-tests the script)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--from-json", type=Path, default=None, help="only re-render OUT/gpu_check.md from a JSON result")
    args = ap.parse_args()
    if args.from_json:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.md").write_text(render(json.loads(args.from_json.read_text())))
        return
    import torch

    global DEV
    DEV = args.device
    if args.data is None:
        ap.error("--data is required")
    if DEV.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device on this machine")
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    files = labelled_files(args.data)
    res: dict[str, Any] = {"environment": environment(), "sections": {}}
    jobs = {"agreement": lambda: section_agreement(files, args.quick),
            "model": lambda: section_model(args.quick),
            "audit": lambda: section_audit(files, work, args.quick),
            "train": lambda: section_train(args.data, work, args.quick),
            "generators": lambda: section_generators(args.quick)}
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            res["sections"][name] = jobs[name]()
        except Exception:
            res["sections"][name] = {"error": traceback.format_exc()}
        res["sections"][name]["wall_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"[gpu_check] {name} done in {res['sections'][name]['wall_seconds']} s", flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps(res, indent=1, default=float))
        (args.out / "gpu_check.md").write_text(render(res))

if __name__ == "__main__":
    main()

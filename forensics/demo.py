"""The main job on the embedded defaults: make a demo folder, scan it, write a report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

from PIL import Image

from forensics.demo_data import real_photos


DEMO_FAKE_SIZE = 128  # the size the default detector's recipe upsamples bundled-generator samples to


def make_demo_folder(out: Path, *, fakes_per_generator: int = 3, seed: int = 0, device: str = "auto") -> dict[str, list[Path]]:
    """real/: photographs shipped with scikit-image/scikit-learn; fake/: samples of every bundled generator.

    Generator samples are upsampled to 128 px exactly as in the default detector's training recipe
    (forensics.training.matched.upsample), since the generators themselves work at 32 px.
    """
    import generators

    from forensics.training.matched import upsample

    real_dir, fake_dir = out / "images" / "real", out / "images" / "fake"
    real_dir.mkdir(parents=True, exist_ok=True)
    fake_dir.mkdir(parents=True, exist_ok=True)
    reals = []
    for name, rgb in real_photos().items():
        p = real_dir / f"{name}.png"
        if not p.exists():
            Image.fromarray(rgb).save(p)
        reals.append(p)
    fakes = []
    for name in generators.list_generators():
        wdir = generators.default_weights_dir(name)
        if not (wdir / "config.json").is_file():
            continue
        gen = generators.load_generator(wdir)
        for i, img in enumerate(gen.sample(fakes_per_generator, seed=seed, device=device)):
            p = fake_dir / f"{name}_{i}.png"
            Image.fromarray(upsample(img, DEMO_FAKE_SIZE)).save(p)
            fakes.append(p)
    return {"real": reals, "fake": fakes}


def run_demo(out: Path, *, model: Optional[str] = None, device: str = "auto",
             log: Callable[[str], None] = print) -> Path:
    """Build the demo folder, scan every image with heatmaps, write results.jsonl and report.html."""
    from dataclasses import replace

    from forensics.detector import Detector
    from forensics.overlay import overlay_name, render_overlay
    from forensics.report import write_scan_report

    out = Path(out)
    log(f"making demo images in {out / 'images'} ...")
    files = make_demo_folder(out, device=device)
    det = Detector.load(model, device=device)
    log(f"scanning {len(files['real']) + len(files['fake'])} images with model {det.model_id} ...")
    results = []
    paths = [str(p) for p in files["real"] + files["fake"]]
    for i, r in enumerate(det.scan_many(paths, batch_size=1)):
        if not r.is_error:
            cmap = det.cell_map(r.path)
            from forensics.decoding import load_image

            png = render_overlay(load_image(r.path).rgb, cmap.probabilities, cmap.stride,
                                 out / "heatmaps" / overlay_name(r.path, i), score=r.score, label=r.label,
                                 threshold=r.threshold)
            r = replace(r, heatmap={**(r.heatmap or {}), "overlay": str(png)})
        results.append(r)
    with open(out / "results.jsonl", "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(r.to_json() + "\n")
    truth = {str(p): "real" for p in files["real"]} | {str(p): "fake" for p in files["fake"]}
    correct = sum(1 for r in results if not r.is_error and r.label == truth[r.path])
    summary = {"images": len(results), "correct": correct, "flagged_fake": sum(r.is_fake for r in results)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    report = write_scan_report(results, out / "report.html", title="forensics demo: bundled-generator fakes vs real photos")
    log(f"{correct}/{len(results)} verdicts match the truth (real photos vs bundled-generator samples)")
    return report

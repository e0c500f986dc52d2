"""HTML reports: built from synthetic sets, checked in headless Chromium (not blank, every image loaded)."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensics.results import ScanResult
from tests.forensics.analysis.conftest import HighFrequencyDetector, plant_corner_noise, smooth_image

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--disable-extensions",
         # no network: every host resolves to nothing and any proxy use goes to a closed port
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def chromium(args, tmp_path, tag):
    profile = tmp_path / f"chromium-profile-{tag}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


def check_in_browser(html: Path, tmp_path: Path) -> dict:
    """Screenshot + DOM after load; returns pixel std of the screenshot and the image counts the page recorded."""
    shot = tmp_path / "shot.png"
    r = chromium([f"--screenshot={shot}", "--window-size=1280,2000", html.resolve().as_uri()], tmp_path, "shot")
    assert shot.is_file(), r.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    dom = chromium(["--virtual-time-budget=5000", "--dump-dom", html.resolve().as_uri()], tmp_path, "dom").stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    assert total and loaded, f"the page's load check did not run: {body.group(0)}"
    return {"std": float(pixels.std()), "shape": pixels.shape, "total": int(total.group(1)),
            "loaded": int(loaded.group(1)), "dom": dom}


@pytest.fixture(scope="module")
def analysis_report(tmp_path_factory):
    from forensics.report import build_report

    tmp = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    for name, make in (("real", lambda: smooth_image(rng)), ("gan", lambda: plant_corner_noise(smooth_image(rng), rng))):
        (tmp / name).mkdir()
        for i in range(10):
            Image.fromarray(make()).save(tmp / name / f"{name}_{i}.png")
    out, analysis, metrics = build_report(HighFrequencyDetector(), [("real", tmp / "real")], [("gan", tmp / "gan")],
                                          tmp / "reports" / "toy.html", top_k=6, n_extreme=3, n_worst=3,
                                          faces=False, figures_dir=tmp / "figs", progress=False, title="toy report")
    return out, analysis, metrics, tmp


def test_report_is_self_contained_and_complete(analysis_report):
    out, analysis, metrics, tmp = analysis_report
    html = out.read_text(encoding="utf-8")
    for section in ("Summary", "Where the evidence is", "Top patches", "Region statistics", "Spectra",
                    "Worst false positives", "Provenance", "absence of provenance signals"):
        assert section in html, section
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(srcs) >= 4 + 2 * 3 and all(s.startswith("data:image/") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must not load anything from the network"
    assert metrics["fake_sets"]["gan"]["ap"] > 0.99  # the stub detector sees the planted artifacts
    assert (tmp / "figs" / "analysis.json").is_file() and (tmp / "figs" / "metrics.json").is_file()


def test_report_flags_sets_the_model_was_trained_on(analysis_report, tmp_path):
    """A detector whose training record covers the 'gan' folder: the report says that set's scores are optimistic."""
    from forensics.analysis.pipeline import ImageSet
    from forensics.report import report_for_sets

    tmp = analysis_report[3]
    det = HighFrequencyDetector()
    det.config = {"training": {"real": [], "fake": [str(tmp / "gan")], "val_fraction": 0.0}}
    sets = [ImageSet.from_folder("real", tmp / "real", is_real=True, limit=3),
            ImageSet.from_folder("gan", tmp / "gan", is_real=False, limit=3)]
    logged = []
    out, _, _ = report_for_sets(det, sets, tmp_path / "r.html", top_k=2, n_extreme=1, n_worst=1, faces=False,
                                provenance=False, progress=False, log=logged.append)
    html = out.read_text(encoding="utf-8")
    assert "Caveats" in html and "set &#39;gan&#39;: 3 of 3 images were in the model&#39;s training split" in html
    assert any("'gan'" in m for m in logged) and not any("'real'" in m for m in logged)
    assert "Provenance was not inspected" in html


@needs_chromium
def test_report_renders_in_headless_chromium(analysis_report, tmp_path):
    out = analysis_report[0]
    res = check_in_browser(out, tmp_path)
    assert res["std"] > 10, "screenshot looks blank"
    assert res["total"] >= 10 and res["loaded"] == res["total"], res
    assert "toy report" in res["dom"]


@needs_chromium
def test_report_with_figures_beside_it_renders_in_headless_chromium(analysis_report, tmp_path):
    """--link-figures: the page refers to the PNGs in its folder by relative path; all must load."""
    from forensics.report import write_analysis_report

    _, analysis, metrics, tmp = analysis_report
    page_dir = tmp / "linked"
    figs = analysis.write(page_dir, dpi=50)
    out = write_analysis_report(analysis, page_dir / "index.html", metrics=metrics,
                                figures={k: v for k, v in figs.items() if k != "analysis"},
                                cases={"false_positives": [], "false_negatives": []}, title="linked report",
                                link_figures=True)
    html = out.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert "mean_heatmaps.png" in srcs and all(not s.startswith("/") for s in srcs)
    res = check_in_browser(out, tmp_path)
    assert res["std"] > 10 and res["total"] == 4 and res["loaded"] == 4, res


@needs_chromium
def test_broken_image_is_detected_by_the_page_check(tmp_path):
    """The check is not vacuous: a page with a broken image reports fewer loaded images."""
    from forensics.report import write_scan_report

    good = tmp_path / "ok.png"
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    rs = [ScanResult(path=f"x{i}.png", score=0.7, label="fake", threshold=0.5, model="m", width=30, height=20,
                     heatmap={"overlay": str(p)}) for i, p in enumerate((good, bad))]
    out = write_scan_report(rs, tmp_path / "scan.html", title="scan")
    res = check_in_browser(out, tmp_path)
    assert res["total"] == 2 and res["loaded"] == 1


def test_scan_report_still_works(tmp_path):
    from forensics.report import write_scan_report

    rs = [ScanResult(path="a.png", score=0.2, label="real", threshold=0.5, model="m", provenance={"signals": []}),
          ScanResult(path="b.png", score=None, label="error", threshold=0.5, model="m", error="not an image")]
    out = write_scan_report(rs, tmp_path / "r.html", extra_sections=[{"title": "More", "html": "<p id='x'>hi</p>"}])
    html = out.read_text()
    assert "absence is not evidence of authenticity" in html and "<p id='x'>hi</p>" in html
    assert "not an image" in html

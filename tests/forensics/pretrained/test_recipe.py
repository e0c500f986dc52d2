"""The fused recipe end to end on a tiny real data set: real photos, bundled-generator fakes, the real
CLIP encoder and patch model; the folder it writes loads and scans."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    import generators
    import skimage.data as sd

    root = tmp_path_factory.mktemp("recipe_data")
    photos = [sd.astronaut(), sd.chelsea(), sd.coffee(), sd.rocket(), sd.immunohistochemistry()]
    for name, crops in (("photos_a", photos[:3]), ("photos_b", photos[2:])):
        d = root / "real" / name
        d.mkdir(parents=True)
        for i, im in enumerate(crops):
            for j, (y, x) in enumerate(((0, 0), (40, 60))):
                Image.fromarray(im[y:y + 256, x:x + 256]).save(d / f"{i}_{j}.png")
    for fam in ("dcgan", "progan"):
        d = root / "fake" / fam
        d.mkdir(parents=True)
        for i, im in enumerate(generators.create_generator(fam, pretrained=True).sample(6, seed=0)):
            Image.fromarray(np.asarray(Image.fromarray(im).resize((128, 128), Image.BICUBIC))).save(d / f"{i}.png")
    return root


def test_recipe_builds_a_fused_model_that_scans(tiny_data, tmp_path, clip_path, photo_files, monkeypatch):
    import forensics.decoding
    from forensics.detector import Detector
    from forensics.pretrained.recipe import run_recipe

    cfg = {"model_id": "fused-tiny", "patch_model": "patch",
           "clip": {"kind": "image", "precision": "float32", "token_blocks": [4, 5], "features": {"mean_blocks": [4, 5], "cls_blocks": [],
                                                                          "view": "resize224"}, "l2": 0.01},
           "conditions": ["clean", "jpeg:75+resize:0.5"], "degraded_condition": "jpeg:75+resize:0.5",
           "real_groups": 2, "target_fpr": 0.1, "eval_only_sources": ["photos_c"], "patch_unseen_sources": ["photos_b", "progan"],
           "data": {"roots": {"d": str(tiny_data)}, "sources": [
               {"name": "photos_a", "label": "real", "family": "photo", "path": "d:real/photos_a"},
               {"name": "photos_b", "label": "real", "family": "photo", "path": "d:real/photos_b"},
               {"name": "photos_c", "label": "real", "family": "photo", "path": "d:real/photos_b"},
               {"name": "dcgan", "label": "fake", "family": "dcgan", "path": "d:fake/dcgan"},
               {"name": "progan", "label": "fake", "family": "progan", "path": "d:fake/progan"},
               {"name": "absent", "label": "fake", "family": "x", "path": "d:fake/nowhere"}]}}
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(cfg))
    logs = []
    decoded: list[str] = []
    real_load = forensics.decoding.load_image
    monkeypatch.setattr(forensics.decoding, "load_image", lambda f, *a, **k: decoded.append(str(f)) or real_load(f, *a, **k))
    out = run_recipe(recipe, tmp_path / "model", tmp_path / "store", clip=clip_path, log=logs.append)
    monkeypatch.setattr(forensics.decoding, "load_image", real_load)
    # each image is decoded once per condition, for the CLIP tokens and the patch score together
    from forensics.pretrained.dataset import load_sources

    n_images = sum(len(s.files) for s in load_sources(cfg, tmp_path))  # photos_c re-lists photos_b's files
    assert len(decoded) == 2 * n_images
    assert any(m.startswith("tokens ") and m.endswith("and their patch scores") for m in logs)
    assert not any(m.startswith("patch scores ") for m in logs)
    assert any("absent" in m for m in logs)  # a missing source is named, not silently dropped
    fig = out["figures"]
    assert {r["family"] for r in fig["fused"]["families"]} == {"dcgan", "progan"}
    assert {r["source"] for r in fig["fused"]["reals"]} == {"photos_a", "photos_b", "photos_c"}
    assert all("ap_degraded" in r for r in fig["clip"]["families"])
    # new images of trained families: scored by models that trained on their family, against photos of trained sources
    seen = fig["seen_families"]
    assert {r["family"] for r in seen["families"]} == {"dcgan", "progan"} and seen["folds"] == 5
    assert {r["source"] for r in seen["reals"]} == {"photos_a", "photos_b"}  # not the evaluation-only photos_c
    assert seen["threshold"] == fig["fused"]["threshold"] and all("flagged_degraded" in r for r in seen["families"])
    model_cfg = json.loads((tmp_path / "model" / "config.json").read_text())
    assert 0 <= model_cfg["real_below"] <= model_cfg["threshold"] <= 1
    assert model_cfg["clip"]["precision"] == "float32"
    assert {"pillow", "numpy", "onnxruntime"} <= set(model_cfg["training"]["libraries"])
    assert [s["name"] for s in model_cfg["training"]["sources"] if s.get("evaluation_only")] == ["photos_c"]
    assert sorted(p.name for p in (tmp_path / "store").glob("tokens*")) == [
        "tokens4-5__float32__resize224__clean", "tokens4-5__float32__resize224__jpeg75_resize0.5"]
    # the benchmarks read the same rows back from the store without extracting anything
    from forensics.pretrained.recipe import stored_rows

    loaded, blocks, rows, tokens = stored_rows(cfg, tmp_path, tmp_path / "store")
    assert blocks == (4, 5) and tokens.shape == (len(rows.label), 196, 2 * 768)
    assert len(rows.label) == 2 * sum(len(s.files) for s in loaded) and set(rows.condition) == set(cfg["conditions"])
    # and the same-rows comparison writes one JSON record per trained recipe from them
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "fused_same_rows.py"
    on_disk = tmp_path / "on_disk.json"  # the comparison refuses a recipe with a source missing on disk
    on_disk.write_text(json.dumps({**cfg, "data": {**cfg["data"], "sources": [
        s for s in cfg["data"]["sources"] if s["name"] != "absent"]}}))
    records = tmp_path / "same_rows.jsonl"
    done = subprocess.run([sys.executable, str(script), "--config", str(on_disk), "--store", str(tmp_path / "store"),
                           "--train", f"tiny={on_disk}", "--json", str(records)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (rec,) = [json.loads(line) for line in records.read_text().splitlines()]
    assert rec["train"] == "tiny" and rec["train_config"] == str(on_disk) and set(rec["families"]) == {"dcgan", "progan"}
    # resumable: a second run extracts nothing and writes the same probe
    before = (tmp_path / "model" / "probe.safetensors").read_bytes()
    logs.clear()
    run_recipe(recipe, tmp_path / "model", tmp_path / "store", clip=clip_path, log=logs.append)
    assert not any(m.startswith(("tokens ", "patch scores ")) for m in logs)
    assert (tmp_path / "model" / "probe.safetensors").read_bytes() == before
    # an evaluation-only source is scored but never trained on: the final probe is the one made without it
    cfg["eval_only_sources"] = []
    cfg["data"]["sources"] = [s for s in cfg["data"]["sources"] if s["name"] != "photos_c"]
    recipe.write_text(json.dumps(cfg))
    run_recipe(recipe, tmp_path / "without", tmp_path / "store", clip=clip_path, log=logs.append)
    assert (tmp_path / "without" / "probe.safetensors").read_bytes() == before
    det = Detector.load(tmp_path / "model", device="cpu", clip=clip_path)
    assert det.branch.encoder.precision == "float32"
    r = det.scan(photo_files[0], provenance=False)
    assert r.model == "fused-tiny" and r.branches["clip"] is not None and r.label in ("real", "uncertain", "fake")
    # a kind of picture with its own threshold: its probe ships beside the verdict probe, its routing in the figures
    from forensics.pretrained.dataset import DataConfigError

    # (with an expert: a verdict probe fitted on the kind's real and fake members only)
    cfg["image_kinds"] = [{"name": "cats-and-coffee", "members": ["photos_a", "dcgan"], "expert": {"weight": 0.5}}]
    recipe.write_text(json.dumps(cfg))
    out = run_recipe(recipe, tmp_path / "kinds", tmp_path / "store", clip=clip_path, log=logs.append)
    (entry,) = json.loads((tmp_path / "kinds" / "config.json").read_text())["kinds"]
    assert entry["name"] == "cats-and-coffee" and (tmp_path / "kinds" / entry["probe"]).is_file()
    assert entry["expert"]["weight"] == 0.5 and (tmp_path / "kinds" / entry["expert"]["probe"]).is_file()
    kind_mode = (tmp_path / "kinds" / entry["probe"]).stat().st_mode & 0o777
    assert kind_mode == (tmp_path / "kinds" / "probe.safetensors").stat().st_mode & 0o777
    routing = out["figures"]["kinds"]["routing"]["cats-and-coffee"]
    assert set(routing["member_sources_routed"]) == {"photos_a"} and routing["other_photos"] > 0
    assert out["figures"]["kinds"]["fused_without_kinds"]["families"]
    r = Detector.load(tmp_path / "kinds", device="cpu", clip=clip_path).scan(photo_files[0], provenance=False)
    assert set(r.branches["clip"]["kind_logits"]) == {"cats-and-coffee"}
    # the screening script reads the stored features and applies the kinds as the scan does
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    from fused_score_sources import score_sources

    screened = score_sources(tmp_path / "kinds", recipe, tmp_path / "store", ["photos_a"])
    scanned = list(Detector.load(tmp_path / "kinds", device="cpu", clip=clip_path).scan_many(
        sorted((tiny_data / "real" / "photos_a").glob("*.png")), provenance=False))
    assert screened["conditions"]["clean"]["photos_a"]["fake"] == sum(x.label == "fake" for x in scanned)
    from forensics.pretrained.combiner import patch_logit

    top = max(float(patch_logit(x.score)) for x in scanned)  # the same fused logit, kind offsets included
    assert abs(top - screened["conditions"]["clean"]["photos_a"]["max_logit"]) < 0.05
    # a kind naming nothing the recipe declares stops before any extraction
    cfg["image_kinds"] = [{"name": "thermal", "members": ["infrared"]}]
    recipe.write_text(json.dumps(cfg))
    logs.clear()
    with pytest.raises(DataConfigError, match="image_kinds names no source or family of the recipe: infrared"):
        run_recipe(recipe, tmp_path / "bad", tmp_path / "store2", clip=clip_path, log=logs.append)
    assert not (tmp_path / "store2").exists()


def test_content_cells_map_sources_by_name_before_family(tmp_path):
    from forensics.pretrained.dataset import DataConfigError, Source
    from forensics.pretrained.recipe import check_content_names, content_cells

    sources = [Source("faces-a", 0, "faces-hq", tmp_path, ()), Source("lsun", 1, "score-sde", tmp_path, ()),
               Source("sde-faces", 1, "score-sde", tmp_path, ()), Source("city", 0, "city", tmp_path, ())]
    cells = content_cells({"faces": ["faces-hq", "sde-faces"]}, sources)
    assert cells == {"faces-a": "faces", "lsun": "other", "sde-faces": "faces", "city": "other"}
    assert content_cells(None, sources) is None
    # names are checked against what the recipe declares, so a source absent from disk is no error
    cfg = {"data": {"sources": [{"name": "faces-a", "family": "faces-hq"}, {"name": "gone", "family": "stylegan2"}]},
           "clip": {"balance_content": {"faces": ["faces-hq", "stylegan2"]}}}
    check_content_names(cfg)
    with pytest.raises(DataConfigError, match="no-such-family"):
        check_content_names({**cfg, "clip": {"balance_content": {"faces": ["no-such-family"]}}})


def test_source_origins_map_each_real_source_to_its_dataset():
    from forensics.pretrained.dataset import DataConfigError
    from forensics.pretrained.recipe import source_origins

    cfg = {"data": {"sources": [{"name": "mt-a"}, {"name": "mt-b"}, {"name": "city"}]},
           "real_source_origins": {"mt": ["mt-a", "mt-b"]}}
    assert source_origins(cfg) == {"mt-a": "mt", "mt-b": "mt"}
    assert source_origins({"data": cfg["data"]}) == {}
    with pytest.raises(DataConfigError, match="mt-c"):
        source_origins({**cfg, "real_source_origins": {"mt": ["mt-a", "mt-c"]}})


def _lineage_recipe() -> dict:
    """A recipe's data and lineage keys: two StyleGAN2-lineage fake families and two real face sources."""
    return {"data": {"sources": [{"name": "ffhq-gan", "family": "stylegan2"}, {"name": "gpen-outputs", "family": "gpen"},
                                 {"name": "faces-a", "family": "faces"}, {"name": "faces-b", "family": "faces"}]},
            "fake_family_lineage": {"stylegan2": ["gpen"]}}


def test_family_lineage_maps_each_family_built_on_another_to_it():
    from forensics.pretrained.dataset import DataConfigError
    from forensics.pretrained.recipe import family_lineage

    cfg = _lineage_recipe()
    assert family_lineage(cfg) == {"stylegan2": "stylegan2", "gpen": "stylegan2"}
    assert family_lineage({"data": cfg["data"]}) == {}
    with pytest.raises(DataConfigError, match="fake_family_lineage names no source or family of the recipe: eg3d"):
        family_lineage({**cfg, "fake_family_lineage": {"stylegan2": ["gpen", "eg3d"]}})


def test_crossfit_grouping_reads_how_the_recipe_holds_data_out():
    from forensics.pretrained.recipe import crossfit_grouping

    cfg = {**_lineage_recipe(), "real_source_origins": {"ffhq": ["faces-a", "faces-b"]},
           "real_groups": 4, "real_group_dealings": 3}
    assert crossfit_grouping(cfg) == {"n_groups": 4, "dealings": 3, "together": {"faces-a": "ffhq", "faces-b": "ffhq"},
                                      "lineage": {"stylegan2": "stylegan2", "gpen": "stylegan2"}}
    assert crossfit_grouping({"data": cfg["data"]}) == {"n_groups": 3, "dealings": 1, "together": {}, "lineage": {}}


def test_the_threshold_holds_for_each_dealings_probe_not_only_for_their_average():
    from forensics.pretrained.recipe import real_threshold
    from forensics.pretrained.selection import CrossFit, Rows

    rng = np.random.default_rng(0)
    n = 40
    source = np.array(["a"] * 20 + ["b"] * 20)
    rows = Rows(np.zeros((n, 1)), np.array([f"k{i}" for i in range(n)]), np.zeros(n, int), np.full(n, "photo"), source,
                np.full(n, "clean"))
    base = rng.normal(size=n)
    d0, d1 = base.copy(), base.copy()
    d0[:2] = [8.0, 7.5]  # source a: two odd photos under one dealing's probe, one of them under the other's
    d1[:2] = [7.8, 0.0]
    cfg = {"target_fpr": 0.05, "per_source_fpr_cap": 0.01}
    everyone = np.ones(n, bool)
    averaged = real_threshold(CrossFit(rows=rows, real_logit=(d0 + d1) / 2), lambda x: x, everyone, cfg)
    assert 3.75 < averaged < 7.5  # the average halves the second odd photo: one photo of a over it, its allowance
    cf = CrossFit(rows=rows, real_logit=(d0 + d1) / 2, real_logit_dealings=np.stack([d0, d1]))
    assert real_threshold(cf, lambda x: x, everyone, cfg) > 7.5  # three over it in two dealings: one too many
    d1[0] = 0.0  # two in one dealing, none in the other: one per dealing on average, the allowance
    cf.real_logit_dealings = np.stack([d0, d1])
    assert real_threshold(cf, lambda x: x, everyone, cfg) < 7.5


def test_worst_dealing_fpr_names_each_source_at_its_worst_dealing():
    from forensics.pretrained.recipe import worst_dealing_fpr

    per_dealing = [np.array([5.0, 0.0, 0.0, 0.0]), np.array([5.0, 5.0, 0.0, 0.0])]  # two dealings of photos a, a, b, b
    sources = np.array(["a", "a", "b", "b"])
    assert worst_dealing_fpr(per_dealing, sources, 1.0) == {"a": 1.0}
    assert worst_dealing_fpr(per_dealing, sources, 6.0) == {}

"""data_sources/reconstruct.py: which photos are paired with a reconstruction, how they are framed, and that
the tiny autoencoder keeps an image's size (and, with the pinned weights, its content)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

DATA_SOURCES = Path(__file__).resolve().parents[2] / "data_sources"
MIRRORS = Path("/work/.mirror")


def _module():
    sys.path.insert(0, str(DATA_SOURCES))
    spec = importlib.util.spec_from_file_location("data_sources_reconstruct", DATA_SOURCES / "reconstruct.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _folder(root: Path, name: str, n: int, size: tuple[int, int] = (40, 30)) -> None:
    (root / name).mkdir(parents=True)
    rng = np.random.default_rng(len(name))
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(root / name / f"{i:02d}.png")


def _recipe(tmp_path: Path) -> Path:
    for name, n in (("faces", 30), ("photos", 30), ("held", 5), ("fakes", 5)):
        _folder(tmp_path / "data", name, n)
    cfg = {"clip": {"balance_content": {"faces-hq": ["faces-hq"]}},
           "eval_only_sources": ["held"],
           "data": {"roots": {"d": "data"}, "sources": [
               {"name": "faces", "label": "real", "family": "faces-hq", "path": "d:faces"},
               {"name": "photos", "label": "real", "family": "camera", "path": "d:photos"},
               {"name": "held", "label": "real", "family": "camera", "path": "d:held"},
               {"name": "fakes", "label": "fake", "family": "sd1", "path": "d:fakes"}]}}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(cfg))
    return path


def test_parents_sample_trained_real_sources_per_content_cell_the_same_way_every_time(tmp_path: Path) -> None:
    mod = _module()
    recipe = _recipe(tmp_path)
    picked = list(mod.parents(recipe))
    by_source = {name: [f for n, _fam, f in picked if n == name] for name in ("faces", "photos", "held", "fakes")}
    assert len(by_source["faces"]) == mod.PER_CELL["faces-hq"]
    assert len(by_source["photos"]) == mod.PER_CELL["other"]
    assert by_source["held"] == [] and by_source["fakes"] == []  # evaluation-only reals and fakes never
    assert {fam for n, fam, _f in picked if n == "photos"} == {"camera"}
    assert picked == list(mod.parents(recipe))
    assert mod.manifest_name(recipe) == "manifest.jsonl"


def test_a_recipe_can_set_its_own_counts_per_content_cell_and_gets_its_own_manifest(tmp_path: Path) -> None:
    mod = _module()
    recipe = _recipe(tmp_path)
    cfg = json.loads(recipe.read_text())
    cfg["pairs_per_cell"] = {"faces-hq": 2}
    recipe.write_text(json.dumps(cfg))
    picked = list(mod.parents(recipe))
    assert len([n for n, _fam, _f in picked if n == "faces"]) == 2
    assert len([n for n, _fam, _f in picked if n == "photos"]) == mod.PER_CELL["other"]  # the others keep theirs
    assert mod.manifest_name(recipe) == "manifest.recipe.jsonl"


def test_framing_caps_the_longer_side_and_crops_to_multiples_of_eight(tmp_path: Path) -> None:
    mod = _module()
    _folder(tmp_path, "big", 1, size=(1100, 700))
    im = mod.framed(tmp_path / "big" / "00.png")
    assert max(im.size) <= mod.MAX_SIDE and im.width % 8 == 0 and im.height % 8 == 0
    assert im.width == 512 and im.height == 320  # 1100x700 -> 512x326 -> cropped to 320 rows


def test_reconstruction_keeps_the_size_and_returns_8_bit_rgb() -> None:
    mod = _module()
    torch.manual_seed(0)
    enc, dec = mod.encoder().eval(), mod.decoder().eval()
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    out = mod.reconstruct(im, enc, dec, "cpu")
    assert out.size == im.size and out.mode == "RGB"


@pytest.mark.skipif(not (MIRRORS / "madebyollin+taesd").exists(), reason="the pinned autoencoder's mirror is absent")
def test_pinned_autoencoder_reconstructs_a_photo_closely() -> None:
    mod = _module()
    enc, dec = mod.load_autoencoder(mod.pinned_weights(MIRRORS, clone=False), "cpu")
    photo = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "cbsd68").glob("*.png"))
    if not photo:
        pytest.skip("the shared photos are absent")
    im = mod.framed(photo[0])
    out = np.asarray(mod.reconstruct(im, enc, dec, "cpu"), np.float32)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((out - np.asarray(im, np.float32)) ** 2))
    assert psnr > 20  # the content is kept (24 dB on this textured photo); only a decoder's traces are added


def test_a_recipe_names_its_decoders_taef2_by_default_and_unknown_ones_fail(tmp_path: Path) -> None:
    mod = _module()
    recipe = _recipe(tmp_path)
    assert mod.decoders(recipe) == ["taef2"]
    cfg = json.loads(recipe.read_text())
    cfg["decoders"] = ["ae-transposed", "ae-pixelshuffle"]
    recipe.write_text(json.dumps(cfg))
    assert mod.decoders(recipe) == ["ae-transposed", "ae-pixelshuffle"]
    cfg["decoders"] = ["ae-transposed", "vqgan"]
    recipe.write_text(json.dumps(cfg))
    with pytest.raises(SystemExit, match="decoders must be a non-empty list of taef2, ae-nearest.*got"):
        mod.decoders(recipe)


def test_pair_names_keep_each_decoder_apart() -> None:
    mod = _module()
    photo = Path("/x/celeb_1.jpg")
    assert mod.pair_name("celeba", "faces-small", photo) == Path("taef2-faces-small/celeba__celeb_1.jpg")
    assert mod.pair_name("celeba", "faces-small", photo, "ae-bilinear") == Path("ae-bilinear-faces-small/celeba__celeb_1.jpg")


def test_own_decoder_is_trained_once_then_loaded_from_its_folder(tmp_path: Path, monkeypatch) -> None:
    mod = _module()
    _folder(tmp_path, "photos", 3, size=(40, 36))
    photos = sorted((tmp_path / "photos").glob("*.png"))
    monkeypatch.setitem(mod.OWN_DECODER, "steps", 3)
    monkeypatch.setitem(mod.OWN_DECODER, "crop", 32)
    monkeypatch.setitem(mod.OWN_DECODER, "widths", (8, 8))
    first = mod.own_decoder("ae-pixelshuffle", photos, tmp_path / "out", "cpu")
    folder = tmp_path / "out" / "decoders" / "ae-pixelshuffle"
    assert json.loads((folder / "config.json").read_text())["upsample"] == "pixelshuffle"
    digest = mod.weights_digest(folder)
    again = mod.own_decoder("ae-pixelshuffle", [], tmp_path / "out", "cpu")  # no photos needed: it is loaded
    assert mod.weights_digest(folder) == digest
    rgb = np.asarray(Image.open(photos[0]).convert("RGB"))
    from generators.autoencoder import reconstruct
    assert np.array_equal(reconstruct(first, rgb), reconstruct(again, rgb))


def test_an_own_decoders_rebuilder_keeps_the_photo_size_and_names_its_weights(tmp_path: Path, monkeypatch) -> None:
    import argparse
    mod = _module()
    _folder(tmp_path, "photos", 2, size=(48, 40))
    photos = sorted((tmp_path / "photos").glob("*.png"))
    for key, value in (("steps", 3), ("crop", 32), ("widths", (8, 8))):
        monkeypatch.setitem(mod.OWN_DECODER, key, value)
    args = argparse.Namespace(out=tmp_path / "out", device="cpu", mirrors=tmp_path, no_clone=True)
    rebuild, origin = mod.rebuilder("ae-transposed", photos, args)
    im = mod.framed(photos[0])
    out = rebuild(im)
    assert out.size == im.size and out.mode == "RGB"
    assert origin == f"generators.autoencoder:transposed:{mod.weights_digest(tmp_path / 'out' / 'decoders' / 'ae-transposed')}"


def test_saving_like_the_parent_returns_the_digest_of_the_file_it_wrote(tmp_path: Path) -> None:
    import hashlib
    mod = _module()
    im = Image.fromarray(np.random.default_rng(2).integers(0, 255, (24, 32, 3), dtype=np.uint8))
    for jpeg, name in ((True, "a.jpg"), (False, "b.png")):
        dst = tmp_path / "sub" / name
        digest = mod.save_like_parent(im, dst, jpeg)
        assert digest == hashlib.sha256(dst.read_bytes()).hexdigest()
        assert not dst.with_name(dst.name + ".tmp").exists()
        with Image.open(dst) as back:
            assert back.format == ("JPEG" if jpeg else "PNG") and back.size == im.size


def test_the_denoiser_is_a_decoder_trained_once_whose_redraws_repeat_and_keep_the_size(tmp_path: Path, monkeypatch) -> None:
    import argparse
    mod = _module()
    recipe = _recipe(tmp_path)
    cfg = json.loads(recipe.read_text())
    cfg["decoders"] = ["denoiser", "ae-bilinear"]
    recipe.write_text(json.dumps(cfg))
    assert mod.decoders(recipe) == ["denoiser", "ae-bilinear"]
    _folder(tmp_path, "photos2", 2, size=(48, 40))
    photos = sorted((tmp_path / "photos2").glob("*.png"))
    for key, value in (("steps", 3), ("crop", 32), ("width", 8)):
        monkeypatch.setitem(mod.OWN_DENOISER, key, value)
    args = argparse.Namespace(out=tmp_path / "out", device="cpu", mirrors=tmp_path, no_clone=True)
    rebuild, origin = mod.rebuilder("denoiser", photos, args)
    folder = tmp_path / "out" / "decoders" / "denoiser"
    assert origin == f"generators.denoiser:sigma=0.1,steps=3:{mod.weights_digest(folder)}"
    im = mod.framed(photos[0])
    out = rebuild(im)
    assert out.size == im.size and out.mode == "RGB"
    again, _ = mod.rebuilder("denoiser", [], args)  # loaded from its folder, no photos needed
    assert np.array_equal(np.asarray(again(im)), np.asarray(out))  # the noise is seeded by the photo's pixels
    assert mod.pixel_seed(im) != mod.pixel_seed(mod.framed(photos[1]))


def test_denoiser_long_is_the_same_network_trained_three_times_as_long_in_its_own_folder(tmp_path: Path, monkeypatch) -> None:
    mod = _module()
    _folder(tmp_path, "photos", 2, size=(48, 40))
    photos = sorted((tmp_path / "photos").glob("*.png"))
    for key, value in (("steps", 2), ("crop", 32), ("width", 8)):
        monkeypatch.setitem(mod.OWN_DENOISER, key, value)
    trained = []
    real_fit = __import__("generators.denoiser", fromlist=["fit_denoiser"]).fit_denoiser

    def counting_fit(paths, **kw):
        trained.append(kw["steps"])
        return real_fit(paths, **kw)

    monkeypatch.setattr("generators.denoiser.fit_denoiser", counting_fit)
    mod.own_denoiser("denoiser", photos, tmp_path / "out", "cpu")
    mod.own_denoiser("denoiser-long", photos, tmp_path / "out", "cpu")
    assert trained == [2, 6]
    assert (tmp_path / "out" / "decoders" / "denoiser-long" / "config.json").exists()
    assert mod.weights_digest(tmp_path / "out" / "decoders" / "denoiser") != mod.weights_digest(
        tmp_path / "out" / "decoders" / "denoiser-long")

"""Pre-cut training crops: real decoding, real files, resumable, bad files skipped with a message."""
from pathlib import Path

import numpy as np

from forensics.data import list_images
from forensics.decoding import load_image
from forensics.training.crops import CropPlan, write_crops


def test_write_crops_cuts_native_and_reencoded_crops_of_every_image(tmp_path, photo_files):
    plan = CropPlan(size=64, native=3, reencoded=2)
    out = tmp_path / "crops"
    assert write_crops(photo_files, out, plan) == len(photo_files)
    files = list_images(out)
    assert len(files) == len(photo_files) * 5
    assert not list(out.glob(".*"))  # no partial file left behind
    for f in files:
        assert load_image(f).rgb.shape == (64, 64, 3)
    # a native crop is a window of its image, pixel for pixel (lossless PNG)
    src = load_image(photo_files[0]).rgb
    crop = load_image(out / plan.names(photo_files[0])[0]).rgb
    hits = [(i, j) for i in range(src.shape[0] - 63) for j in range(src.shape[1] - 63)
            if np.array_equal(src[i:i + 64, j:j + 64], crop)]
    assert hits


def test_write_crops_resumes_and_is_deterministic(tmp_path, photo_files):
    plan = CropPlan(size=48, native=2, reencoded=1)
    a, b = tmp_path / "a", tmp_path / "b"
    write_crops(photo_files[:2], a, plan, seed=3)
    assert write_crops(photo_files[:2], a, plan, seed=3) == 0  # nothing left to cut
    assert write_crops(photo_files, a, plan, seed=3) == len(photo_files) - 2
    write_crops(photo_files, b, plan, seed=3)
    for f in list_images(a):
        assert (b / f.name).read_bytes() == f.read_bytes()


def test_write_crops_pads_small_images_and_skips_undecodable_ones(tmp_path, photo_files):
    from PIL import Image

    small = tmp_path / "small.png"
    Image.fromarray(np.full((20, 30, 3), 128, np.uint8)).save(small)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    messages: list[str] = []
    plan = CropPlan(size=32, native=1, reencoded=1)
    assert write_crops([small, broken], tmp_path / "c", plan, log=messages.append) == 1
    assert len(list_images(tmp_path / "c")) == 2
    assert len(messages) == 1 and "broken.jpg" in messages[0]


def test_crop_names_differ_for_different_images_of_the_same_name(tmp_path, photo_files):
    plan = CropPlan()
    for folder, photo in (("x", photo_files[0]), ("y", photo_files[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.png").write_bytes(Path(photo).read_bytes())
    a, b = plan.names(tmp_path / "x" / "img.png"), plan.names(tmp_path / "y" / "img.png")
    assert len(a) == plan.native + plan.reencoded and not set(a) & set(b)


def test_a_copy_of_an_image_under_another_path_gives_the_same_crops(tmp_path, photo_files):
    plan = CropPlan(size=48, native=2, reencoded=1)
    copy = tmp_path / "elsewhere" / "deeper" / Path(photo_files[0]).name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(Path(photo_files[0]).read_bytes())
    write_crops([photo_files[0]], tmp_path / "a", plan)
    write_crops([copy], tmp_path / "b", plan)
    names = plan.names(Path(photo_files[0]))
    assert names == plan.names(copy)
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()

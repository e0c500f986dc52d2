"""Training augmentation: shapes, determinism, and that every kind applies to both classes alike."""
import numpy as np
import torch
import pytest

from forensics.training.data import AUGMENTS, Augmenter


@pytest.mark.parametrize("kind", AUGMENTS)
def test_augmenter_returns_a_crop_of_the_requested_size(kind, photos):
    rgb = next(iter(photos.values()))
    aug = Augmenter(kind, 48)
    for seed in range(5):
        out = aug(rgb, np.random.default_rng(seed))
        assert out.shape == (48, 48, 3) and out.dtype == np.uint8
    a = aug(rgb, np.random.default_rng(7))
    b = aug(rgb, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)  # the same seed gives the same crop (resumable streams)


def test_none_is_a_plain_crop_and_milder_kinds_change_pixels_less_often(photos):
    rgb = next(iter(photos.values()))
    none = Augmenter("none", 64)
    crop = none(rgb, np.random.default_rng(1))
    assert crop.shape == (64, 64, 3)
    found = any(np.array_equal(rgb[i:i + 64, j:j + 64], crop)
                for i in range(rgb.shape[0] - 63) for j in range(rgb.shape[1] - 63))
    assert found

    def altered(kind: str) -> float:
        aug, changed = Augmenter(kind, 64), 0
        for seed in range(60):
            rng = np.random.default_rng(seed)
            out = aug(rgb, rng)
            # an unaltered output is an exact (possibly flipped) crop of the source
            changed += not any(np.array_equal(rgb[i:i + 64, j:j + 64], o)
                               for o in (out, out[:, ::-1]) for i in range(0, rgb.shape[0] - 63, 1)
                               for j in range(0, rgb.shape[1] - 63, 1)
                               if rgb[i, j].tolist() == o[0, 0].tolist())
        return changed / 60

    assert altered("mild") < altered("medium") < altered("robust")


def test_unknown_augmentation_names_the_choices():
    with pytest.raises(ValueError, match="mild"):
        Augmenter("heavy", 32)


def test_source_weights_change_how_often_each_source_is_drawn(tmp_path, photos):
    """Two fake folders told apart by their pixels (a photo crop vs the same crop inverted):
    weight 3 vs 1 draws the first about three times as often; no weights draws them evenly."""
    from PIL import Image

    from forensics.training.data import FAKE, REAL, BalancedStream, make_sources

    rgb = next(iter(photos.values()))[:64, :64]
    for name, img in (("real", rgb), ("plain", rgb), ("inverted", 255 - rgb)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.ascontiguousarray(img)).save(tmp_path / name / f"{i}.png")
    sources = make_sources([tmp_path / "real"], REAL, split=None, val_fraction=0) + \
        make_sources([tmp_path / "plain", tmp_path / "inverted"], FAKE, split=None, val_fraction=0)

    def share_plain(weights):
        stream = iter(BalancedStream(sources, Augmenter("none", 64), 0, source_weights=weights))
        fakes = [x for x, y in (next(stream) for _ in range(1200)) if y == FAKE]
        plain = sum(int(np.array_equal(x.permute(1, 2, 0).numpy(), rgb)) for x in fakes)
        return plain / len(fakes)

    assert share_plain({"fake:plain": 3.0}) == pytest.approx(0.75, abs=0.06)
    assert share_plain(None) == pytest.approx(0.5, abs=0.06)
    with pytest.raises(ValueError, match="unknown sources"):
        BalancedStream(sources, Augmenter("none", 64), 0, source_weights={"stylegan": 2.0})


def _two_class_sources(tmp_path, rgb):
    from PIL import Image

    from forensics.training.data import FAKE, REAL, make_sources

    for name, img in (("real", rgb), ("fake", 255 - rgb)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.ascontiguousarray(img)).save(tmp_path / name / f"{i}.png")
    return make_sources([tmp_path / "real"], REAL, split=None, val_fraction=0) + \
        make_sources([tmp_path / "fake"], FAKE, split=None, val_fraction=0)


def test_small_batches_are_whole_batches_of_one_small_size(tmp_path, photos):
    """Through a real DataLoader (one worker), every batch has a single side; about the asked
    fraction of batches is small, and each small side is one of SMALL_SIZES."""
    from torch.utils.data import DataLoader

    from forensics.training.data import SMALL_SIZES, BalancedStream

    sources = _two_class_sources(tmp_path, next(iter(photos.values())))
    stream = BalancedStream(sources, Augmenter("mild", 64), 0, batch_size=6, small_fraction=0.4)
    batches = iter(DataLoader(stream, batch_size=6, num_workers=1))
    sides = []
    for _ in range(80):
        x, y = next(batches)
        assert x.shape[2] == x.shape[3] and x.shape[0] == 6 and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
        sides.append(x.shape[2])
    small = [s for s in sides if s != 64]
    assert set(small) <= set(SMALL_SIZES) and len(set(small)) >= 3
    assert len(small) / len(sides) == pytest.approx(0.4, abs=0.15)


def test_no_small_fraction_leaves_the_stream_as_it_was(tmp_path, photos):
    """small_fraction 0 draws nothing extra from the generator, so older recipes replay the same crops."""
    from forensics.training.data import BalancedStream

    sources = _two_class_sources(tmp_path, next(iter(photos.values())))
    old = iter(BalancedStream(sources, Augmenter("mild", 48), 3))
    new = iter(BalancedStream(sources, Augmenter("mild", 48), 3, batch_size=4, small_fraction=0.0))
    for _ in range(12):
        (a, la), (b, lb) = next(old), next(new)
        assert la == lb and torch.equal(a, b)
    with pytest.raises(ValueError, match="small_fraction"):
        BalancedStream(sources, Augmenter("mild", 48), 3, small_fraction=1.5)
    with pytest.raises(ValueError, match="above 32"):
        BalancedStream(sources, Augmenter("mild", 32), 3, small_fraction=0.2)


def test_small_thumbnails_shrink_the_whole_image(photos):
    """A small crop is either a native crop or the whole image shrunk to about the crop's side:
    across seeds both kinds appear (a thumbnail is much smoother than a native crop of the photo)."""
    rgb = next(iter(photos.values()))
    aug = Augmenter("none", 64)
    kinds = set()
    for seed in range(30):
        out = aug(rgb, np.random.default_rng(seed), 32)
        assert out.shape == (32, 32, 3)
        native = any(np.array_equal(rgb[i:i + 32, j:j + 32], o) for o in (out, out[:, ::-1])
                     for i in range(rgb.shape[0] - 31) for j in range(rgb.shape[1] - 31)
                     if rgb[i, j].tolist() == o[0, 0].tolist())
        kinds.add(native)
    assert kinds == {True, False}


def test_web_reencode_shrinks_and_recompresses_the_whole_image(photos):
    """The sharing-site re-encoding keeps the aspect ratio, shrinks 0.4-0.8x (never below the crop),
    changes pixels by JPEG loss, and repeats exactly for the same seed."""
    from forensics.training.data import REENCODE_SCALE, web_reencode

    rgb = next(iter(photos.values()))
    h, w = rgb.shape[:2]
    for seed in range(8):
        out = web_reencode(rgb, np.random.default_rng(seed), 48)
        scale = out.shape[0] / h
        assert REENCODE_SCALE[0] - 0.02 <= scale <= REENCODE_SCALE[1] + 0.02 and min(out.shape[:2]) >= 48
        assert out.shape[1] / w == pytest.approx(scale, abs=0.02)
    a, b = (web_reencode(rgb, np.random.default_rng(3), 48) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    small = rgb[:60, :60]
    assert web_reencode(small, np.random.default_rng(0), 56).shape[:2] == (56, 56)  # shrunk at most to the crop
    # JPEG loss: the re-encoded image is not the plain area-downscale of the original
    import cv2
    plain = cv2.resize(rgb, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(plain.astype(int) - a.astype(int)).mean() > 0.3


def test_reencode_share_is_applied_and_zero_leaves_crops_unchanged(photos):
    """reencode 0 draws nothing extra (older recipes replay the same crops); reencode 1 makes every
    crop a crop of a re-encoded image, so none equals a plain crop of the original; bad shares fail."""
    rgb = next(iter(photos.values()))
    old, zero, always = Augmenter("flip", 48), Augmenter("flip", 48, reencode=0.0), Augmenter("flip", 48, reencode=1.0)
    for seed in range(6):
        np.testing.assert_array_equal(old(rgb, np.random.default_rng(seed)), zero(rgb, np.random.default_rng(seed)))
        out = always(rgb, np.random.default_rng(seed))
        assert out.shape == (48, 48, 3)
        assert not any(np.array_equal(rgb[i:i + 48, j:j + 48], o) for o in (out, out[:, ::-1])
                       for i in range(rgb.shape[0] - 47) for j in range(rgb.shape[1] - 47)
                       if rgb[i, j].tolist() == o[0, 0].tolist())
    with pytest.raises(ValueError, match="reencode_fraction must be within 0-1"):
        Augmenter("mild", 48, reencode=1.2)


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's grey level (ITU-R 601 luma), as float."""
    return rgb.astype(float) @ np.array([0.299, 0.587, 0.114])


def _colour_spread(rgb: np.ndarray) -> float:
    """Mean distance of the channels from their pixel's grey level: how colourful an image is."""
    return float(np.abs(rgb.astype(float) - _grey(rgb)[..., None]).mean())


def test_scale_saturation_matches_pil_and_keeps_grey_levels(photos):
    """The colour filter agrees with PIL's ImageEnhance.Color (to rounding), leaves each pixel's grey
    level in place, and moves colours away from it (> 1) or towards it (< 1)."""
    from PIL import Image, ImageEnhance

    from forensics.training.data import scale_saturation

    rgb = next(iter(photos.values()))
    for factor in (0.5, 1.0, 1.6):
        out = scale_saturation(rgb, factor)
        pil = np.asarray(ImageEnhance.Color(Image.fromarray(rgb)).enhance(factor))
        assert out.dtype == np.uint8 and out.shape == rgb.shape
        assert np.abs(out.astype(int) - pil.astype(int)).max() <= 1
    np.testing.assert_array_equal(scale_saturation(rgb, 1.0), rgb)
    muted, vivid = scale_saturation(rgb, 0.5), scale_saturation(rgb, 1.6)
    assert np.abs(_grey(muted) - _grey(rgb)).mean() < 0.6
    assert _colour_spread(muted) < 0.6 * _colour_spread(rgb) and _colour_spread(vivid) > 1.3 * _colour_spread(rgb)


def test_saturation_share_is_applied_and_zero_leaves_crops_unchanged(photos):
    """saturation 0 draws nothing extra (older recipes replay the same crops); saturation 1 scales the
    colourfulness of every crop by a factor in SATURATION_RANGE, with or without re-encoding (a flat
    colour, so the crop's place does not matter); bad shares fail."""
    from forensics.training.data import SATURATION_RANGE

    rgb = next(iter(photos.values()))
    old, zero = Augmenter("flip", 48), Augmenter("flip", 48, saturation=0.0)
    for seed in range(6):
        np.testing.assert_array_equal(old(rgb, np.random.default_rng(seed)), zero(rgb, np.random.default_rng(seed)))
    flat = np.zeros((120, 160, 3), np.uint8) + np.array([150, 110, 90], np.uint8)
    for reencode in (0.0, 1.0):
        always = Augmenter("flip", 48, reencode=reencode, saturation=1.0)
        ratios = [_colour_spread(always(flat, np.random.default_rng(seed))) / _colour_spread(flat) for seed in range(16)]
        assert min(ratios) > SATURATION_RANGE[0] - 0.05 and max(ratios) < SATURATION_RANGE[1] + 0.05
        assert min(ratios) < 0.8 and max(ratios) > 1.2  # both muted and vivid crops
    with pytest.raises(ValueError, match="saturation_fraction must be within 0-1"):
        Augmenter("mild", 48, saturation=-0.1)


def test_grey_share_turns_that_share_of_crops_grey_and_zero_leaves_crops_unchanged(photos):
    """grey 0 draws nothing extra (older recipes replay the same crops); grey 1 makes every crop grey,
    with or without re-encoding and on top of saturation scaling; grey 0.5 about half; bad shares fail."""
    rgb = next(iter(photos.values()))
    old, zero = Augmenter("mild", 48, saturation=0.6), Augmenter("mild", 48, saturation=0.6, grey=0.0)
    for seed in range(6):
        np.testing.assert_array_equal(old(rgb, np.random.default_rng(seed)), zero(rgb, np.random.default_rng(seed)))
    for reencode in (0.0, 1.0):
        always = Augmenter("flip", 48, reencode=reencode, saturation=1.0, grey=1.0)
        for seed in range(8):
            crop = always(rgb, np.random.default_rng(seed)).astype(int)
            assert np.abs(crop[..., 0] - crop[..., 1]).max() <= 1 and np.abs(crop[..., 1] - crop[..., 2]).max() <= 1
    half = Augmenter("flip", 48, grey=0.5)
    grey = [_colour_spread(half(rgb, np.random.default_rng(seed))) < 1 for seed in range(200)]
    assert 0.35 < np.mean(grey) < 0.65
    with pytest.raises(ValueError, match="grey_fraction must be within 0-1"):
        Augmenter("mild", 48, grey=1.5)


def test_jpeg_share_resaves_the_whole_image_first_and_zero_leaves_crops_unchanged(photos):
    """jpeg 0 draws nothing extra (older recipes replay the same crops); jpeg 1 crops a whole-image JPEG
    re-save at a quality within WHOLE_JPEG_QUALITY, at full size; bad shares fail."""
    from forensics.training.data import WHOLE_JPEG_QUALITY, random_crop
    from forensics.stability import jpeg

    rgb = next(iter(photos.values()))
    old, zero = Augmenter("mild", 48, saturation=0.6), Augmenter("mild", 48, saturation=0.6, jpeg=0.0)
    for seed in range(6):
        np.testing.assert_array_equal(old(rgb, np.random.default_rng(seed)), zero(rgb, np.random.default_rng(seed)))
    always = Augmenter("none", 64, jpeg=1.0)
    for seed in range(4):
        replay = np.random.default_rng(seed)
        replay.random()  # the share's draw
        quality = int(replay.integers(WHOLE_JPEG_QUALITY[0], WHOLE_JPEG_QUALITY[1] + 1))
        expected = random_crop(jpeg(rgb, quality), 64, replay)
        crop = always(rgb, np.random.default_rng(seed))
        np.testing.assert_array_equal(crop, expected)
        assert not any(np.array_equal(crop, rgb[i:i + 64, j:j + 64]) for i in range(0, rgb.shape[0] - 63, 8)
                       for j in range(0, rgb.shape[1] - 63, 8))
    with pytest.raises(ValueError, match="jpeg_fraction must be within 0-1"):
        Augmenter("mild", 48, jpeg=-0.1)


def test_match_chroma_hits_the_target_within_the_factor_limits_and_leaves_grey_alone(photos):
    """match_chroma scales saturation so the mean chroma lands on the target; the factor stays within
    CHROMA_FACTOR_RANGE (a dull image is not blown up into colour noise); a grey image comes back as it was."""
    from forensics.training.data import CHROMA_FACTOR_RANGE, chroma, match_chroma, scale_saturation

    rgb = next(iter(photos.values()))
    level = chroma(rgb)
    assert level > 2
    for target in (0.5 * level, 1.5 * level):
        assert chroma(match_chroma(rgb, target)) == pytest.approx(target, rel=0.05)
    far = 100 * level
    np.testing.assert_array_equal(match_chroma(rgb, far), scale_saturation(rgb, CHROMA_FACTOR_RANGE[1]))
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    assert chroma(grey) < 1e-3
    np.testing.assert_array_equal(match_chroma(grey, 30.0), grey)


def test_chroma_match_share_gives_both_classes_the_same_colourfulness_and_zero_leaves_crops_unchanged(photos):
    """chroma_match 0 draws nothing extra (older recipes replay the same crops); chroma_match 1 makes a dull
    and a vivid version of one photo equally colourful on average (their classes could differ only so);
    bad shares fail."""
    from forensics.training.data import CHROMA_TARGET, chroma, scale_saturation

    rgb = next(iter(photos.values()))
    old, zero = Augmenter("mild", 48, saturation=0.6), Augmenter("mild", 48, saturation=0.6, chroma_match=0.0)
    for seed in range(6):
        np.testing.assert_array_equal(old(rgb, np.random.default_rng(seed)), zero(rgb, np.random.default_rng(seed)))
    matched = Augmenter("flip", 48, chroma_match=1.0)
    photo = photos["chelsea"]
    dull, vivid = scale_saturation(photo, 0.75), scale_saturation(photo, 1.3)
    assert chroma(vivid) > 1.6 * chroma(dull)
    # the same seed crops the same place and draws the same target for both
    pairs = np.array([[chroma(matched(im, np.random.default_rng(seed))) for im in (dull, vivid)] for seed in range(40)])
    assert np.median(np.abs(pairs[:, 0] - pairs[:, 1]) / pairs[:, 1]) < 0.05
    assert pairs.min() < CHROMA_TARGET[0] + 6 and pairs.max() > CHROMA_TARGET[1] - 10
    with pytest.raises(ValueError, match="chroma_match_fraction must be within 0-1"):
        Augmenter("mild", 48, chroma_match=1.5)


@pytest.mark.parametrize("hard_label, files_kw, share_kw", [(0, "hard_reals", "hard_share"),
                                                           (1, "hard_fakes", "hard_fake_share")])
def test_hard_share_draws_that_share_of_its_class_from_the_hard_files(tmp_path, photos, hard_label, files_kw,
                                                                     share_kw):
    """Draws of the mined class come from its hard files at about the share; the other class's never do."""
    from PIL import Image

    from forensics.training.data import BalancedStream

    sources = _two_class_sources(tmp_path, next(iter(photos.values())))
    flat = tmp_path / "hard.png"
    Image.fromarray(np.full((80, 80, 3), 77, np.uint8)).save(flat)
    stream = iter(BalancedStream(sources, Augmenter("none", 48), 0, **{files_kw: [flat], share_kw: 0.5}))
    from_hard = {0: 0, 1: 0}
    for _ in range(200):
        x, label = next(stream)
        from_hard[label] += int(torch.all(x == 77))
    assert from_hard[1 - hard_label] == 0
    assert from_hard[hard_label] / 100 == pytest.approx(0.5, abs=0.15)
    with pytest.raises(ValueError, match=f"needs {files_kw}"):
        BalancedStream(sources, Augmenter("none", 48), 0, **{share_kw: 0.2})
    with pytest.raises(ValueError, match=share_kw):
        BalancedStream(sources, Augmenter("none", 48), 0, **{files_kw: [flat], share_kw: 1.2})


def test_crop_flags_reencoded_images_and_matches_the_plain_crop(photos):
    """`Augmenter.crop` makes the crop `__call__` makes from the same draws and says whether it re-encoded."""
    rgb = next(iter(photos.values()))
    aug = Augmenter("mild", 48, reencode=0.5)
    flags = []
    for seed in range(12):
        crop, reencoded = aug.crop(rgb, np.random.default_rng(seed))
        np.testing.assert_array_equal(crop, aug(rgb, np.random.default_rng(seed)))
        flags.append(reencoded)
    assert any(flags) and not all(flags)
    assert not any(Augmenter("mild", 48).crop(rgb, np.random.default_rng(s))[1] for s in range(4))
    assert all(Augmenter("mild", 48, reencode=1.0).crop(rgb, np.random.default_rng(s))[1] for s in range(4))


def test_stream_can_flag_reencoded_crops_without_changing_them(tmp_path, photos):
    """With flag_reencoded, items carry the re-encoding flag as a third element; the crops are the same."""
    from forensics.training.data import BalancedStream

    sources = _two_class_sources(tmp_path, next(iter(photos.values())))
    plain = iter(BalancedStream(sources, Augmenter("mild", 48, reencode=0.5), 3))
    flagged = iter(BalancedStream(sources, Augmenter("mild", 48, reencode=0.5), 3, flag_reencoded=True))
    seen = set()
    for _ in range(16):
        (x, y), (fx, fy, reencoded) = next(plain), next(flagged)
        assert torch.equal(x, fx) and y == fy
        seen.add(reencoded)
    assert seen == {True, False}

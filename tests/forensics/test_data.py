"""Training augmentation: shapes, determinism, and that every kind applies to both classes alike."""
import numpy as np
import pytest

from forensics.data import AUGMENTS, Augmenter


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

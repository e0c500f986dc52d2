"""Test-time views and how their scores are combined with the plain ones."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from screen_test_time_views import VIEWS, ap_row, combined, view_scores  # noqa: E402


def _left_half_brightness(rgb: np.ndarray) -> float:
    return float(rgb[:, : rgb.shape[1] // 2].mean() / 255)


def _image(left: int, right: int, size: int = 8) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[:, : size // 2], img[:, size // 2:] = left, right
    return img


def test_views_keep_the_image_and_change_only_what_they_name():
    img = _image(200, 10, size=16)
    assert np.array_equal(VIEWS["flip"](img), img[:, ::-1])
    assert VIEWS["flip"](img).flags["C_CONTIGUOUS"]
    assert VIEWS["up2"](img).shape == (32, 32, 3)
    assert VIEWS["down0.75"](img).shape == (12, 12, 3)
    assert VIEWS["up2"](img).dtype == np.uint8


def test_view_scores_score_each_image_through_its_view():
    images = {"clean": {"real:a": [_image(0, 255)], "fake:b": [_image(255, 0)]}}
    plain = view_scores(_left_half_brightness, images)
    flipped = view_scores(_left_half_brightness, images, VIEWS["flip"])
    assert plain["clean"]["real:a"][0] == pytest.approx(0.0)
    assert flipped["clean"]["real:a"][0] == pytest.approx(1.0)
    assert flipped["clean"]["fake:b"][0] == pytest.approx(0.0)


def test_combinations_take_the_mean_or_the_larger_score_per_image():
    plain = {"clean": {"s": np.array([0.2, 0.9])}}
    viewed = {"clean": {"s": np.array([0.6, 0.1])}}
    assert combined(plain, viewed, "mean")["clean"]["s"] == pytest.approx([0.4, 0.5])
    assert combined(plain, viewed, "max")["clean"]["s"] == pytest.approx([0.6, 0.9])


def test_ap_row_gives_mean_and_per_set_ap_for_both_conditions():
    scores = {c: {"real:a": np.array([0.1, 0.2, 0.95]), "fake:b": np.array([0.9, 0.99]), "fake:c": np.array([0.97, 0.98])}
              for c in ("clean", "jpeg75_resize0.5")}
    row = ap_row(scores, ["real:a"], ["fake:b", "fake:c"])
    assert row["ap"]["fake:c"] == [1.0, 1.0]
    assert row["ap"]["fake:b"][0] < 1.0
    assert row["mean_ap"]["clean"] == pytest.approx((row["ap"]["fake:b"][0] + 1.0) / 2, abs=1e-4)

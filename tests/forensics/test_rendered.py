"""Procedurally rendered graphics: every kind renders, each seed always gives the same image, and the
written files decode back to the rendered pixels."""
import numpy as np
import pytest

from forensics.decoding import load_image
from forensics.rendered import KINDS, RENDERERS, render_graphic, write_graphics


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_noise_free_graphic_of_the_asked_size(kind):
    rgb = RENDERERS[kind](70, 90, np.random.default_rng(3))
    assert rgb.shape == (70, 90, 3) and rgb.dtype == np.uint8
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 1  # not one flat colour
    # rendered, not photographed: most pixels equal a neighbour or continue a smooth ramp (second
    # difference of at most 2 grey levels), which camera noise does not allow
    y = rgb.astype(int).sum(-1) / 3
    lap = np.abs(2 * y[:, 1:-1] - y[:, :-2] - y[:, 2:])
    assert (lap <= 2).mean() > 0.6


def test_a_seed_fixes_kind_size_and_pixels():
    kind, a = render_graphic(11)
    kind2, b = render_graphic(11)
    assert kind == kind2
    np.testing.assert_array_equal(a, b)
    sizes = {render_graphic(s)[1].shape for s in range(12)}
    assert len(sizes) > 1 and all(96 <= min(s[:2]) and max(s[:2]) <= 512 for s in sizes)
    assert len({render_graphic(s)[0] for s in range(60)}) == len(KINDS)


def test_written_graphics_decode_to_the_rendered_pixels_and_are_not_rewritten(tmp_path):
    paths = write_graphics(tmp_path, 3, first_seed=5)
    assert [p.name for p in paths] == ["graphic_00005.png", "graphic_00006.png", "graphic_00007.png"]
    np.testing.assert_array_equal(load_image(paths[1]).rgb, render_graphic(6)[1])
    stamp = paths[0].stat().st_mtime_ns
    write_graphics(tmp_path, 3, first_seed=5)
    assert paths[0].stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.tmp"))

import numpy as np
from PIL import Image

from forensics.decoding import load_image
from forensics.training.matched import center_square, prepare_real_set, upsample


def test_real_set_goes_through_native_resolution_then_upsample(tmp_path, photos):
    src = tmp_path / "src"
    src.mkdir()
    for name, rgb in list(photos.items())[:3]:
        Image.fromarray(rgb).save(src / f"{name}.png")
    out = prepare_real_set(src, tmp_path / "out", native=32, size=64, progress=False)
    files = sorted(out.glob("*.png"))
    assert len(files) == 3
    for f in files:
        rgb = load_image(f).rgb
        assert rgb.shape == (64, 64, 3)
        # identical to the explicit two-step path (the same one used for generator samples)
        ref = upsample(center_square(load_image(src / f.name).rgb, 32), 64)
        assert np.array_equal(rgb, ref)
    # rerun is a no-op (resumable)
    mtimes = [f.stat().st_mtime for f in files]
    prepare_real_set(src, tmp_path / "out", native=32, size=64, progress=False)
    assert mtimes == [f.stat().st_mtime for f in sorted(out.glob("*.png"))]

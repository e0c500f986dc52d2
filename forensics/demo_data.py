"""Real photographs that ship inside installed dependencies (no downloads)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

_SKIMAGE = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
            "hubble_deep_field.jpg", "retina.jpg")


def real_photos() -> dict[str, np.ndarray]:
    """Name -> RGB uint8 for the colour photographs bundled with scikit-image and scikit-learn."""
    from forensics.decoding import ImageDecodeError, load_image

    out: dict[str, np.ndarray] = {}
    try:
        import skimage

        base = Path(skimage.__file__).parent / "data"
        for f in _SKIMAGE:
            try:
                out[Path(f).stem] = load_image(base / f).rgb
            except ImageDecodeError:
                pass
    except ImportError:
        pass
    try:
        import sklearn.datasets

        base = Path(sklearn.datasets.__file__).parent / "images"
        for f in ("china.jpg", "flower.jpg"):
            if (base / f).is_file():
                out[Path(f).stem] = load_image(base / f).rgb
    except ImportError:
        pass
    return out

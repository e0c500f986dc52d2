import warnings

import numpy as np
import torch

from forensics.preprocess import Preprocessing, to_tensor


def test_to_tensor_normalises_and_takes_read_only_tiles_without_warning():
    """Tiles of a decoded image can be read-only views; they convert silently and equal a writable copy."""
    rgb = np.random.default_rng(0).integers(0, 256, (1, 40, 40, 3), dtype=np.uint8)
    view = rgb[:, :, :]
    view.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = to_tensor(view, Preprocessing())
    assert x.shape == (1, 3, 40, 40) and x.dtype == torch.float32
    assert torch.allclose(x, to_tensor(rgb.copy(), Preprocessing()))
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0  # mean 0.5, std 0.5

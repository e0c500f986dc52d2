"""Bundled image generators (six families) that learn from real images and sample fake datasets.

>>> import generators
>>> gen = generators.create_generator("dcgan", pretrained=True)
>>> imgs = gen.sample(16, seed=0)          # uint8 (16, H, W, 3)
"""
from __future__ import annotations

from pathlib import Path

from ._registry import (UnknownGeneratorError, create_generator, get_generator_class, list_generators,
                        register_generator)
from .base import Generator, load_generator
from . import dcgan, progan, stylegan, glow, gmm, diffusion  # noqa: E402,F401  (registers the families)
from .dataset import write_fake_dataset

WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"


def default_weights_dir(name: str) -> Path:
    """Folder of the shipped pretrained weights for family `name`."""
    get_generator_class(name)
    return WEIGHTS_ROOT / name


__all__ = ["Generator", "UnknownGeneratorError", "create_generator", "default_weights_dir",
           "get_generator_class", "list_generators", "load_generator", "register_generator",
           "write_fake_dataset"]

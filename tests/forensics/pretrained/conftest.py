"""Fixtures for the pretrained branch: the real CLIP encoder file when this machine has it."""
from __future__ import annotations

import pytest

from forensics.pretrained import clip_file


@pytest.fixture(scope="session")
def clip_path():
    """The verified CLIP encoder file; tests that need it skip where it was never fetched."""
    ok, where = clip_file.status()
    if not ok:
        pytest.skip(f"CLIP encoder not available here ({where[:80]}...)")
    return where

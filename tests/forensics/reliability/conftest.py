"""Fixtures for the hostile-input suite: a freshly written corpus per test (it takes well under a second)."""
from __future__ import annotations

import pytest

from tests.forensics.reliability.corpus import build_corpus, cleanup


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every hostile-input test runs with one torch thread (tests/conftest.py)."""


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    cases = build_corpus(root)
    yield root, cases
    cleanup(root)


@pytest.fixture()
def shared_detector(monkeypatch, detector):
    """In-process CLI runs reuse the session's loaded (real) default model: loading it is the slow part."""
    from forensics.detector import Detector

    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, model=None, device="auto", clip=None: detector))
    return detector

"""Fixtures for the hostile-input suite: a freshly written corpus per test (it takes well under a second)."""
from __future__ import annotations

import pytest
import torch

from tests.forensics.reliability.corpus import build_corpus, cleanup


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests share small machines with other work: one torch thread, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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

    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, model=None, device="auto": detector))
    return detector

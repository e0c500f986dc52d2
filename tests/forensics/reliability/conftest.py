"""Fixtures for the hostile-input suite: a freshly written corpus per test (it takes well under a second)."""
from __future__ import annotations

import pytest

from tests.forensics.reliability.corpus import build_corpus, cleanup


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    cases = build_corpus(root)
    yield root, cases
    cleanup(root)

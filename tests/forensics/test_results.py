"""ScanResult records: the dict form is what `dataclasses.asdict` gives, detached from the record."""
import json
from dataclasses import asdict

import numpy as np

from forensics.results import ScanResult, error_result


def _record() -> ScanResult:
    return ScanResult(path="a.png", score=0.9, label="fake", threshold=0.5, model="m", width=128, height=96,
                      heatmap={"grid": [16, 12], "max_cell_box": (0, 0, 53, 53), "mean": 0.9},
                      provenance={"signals": [{"kind": "c2pa", "detail": {"issuer": "x"}}],
                                  "camera": {"make": None}, "checked": ["exif", "c2pa"]},
                      notes=("one", "two"), extra={"duplicate_of": None, "tags": ("a", "b")})


def test_to_dict_matches_asdict_and_round_trips():
    r = _record()
    expected = asdict(r)
    expected["notes"] = list(r.notes)
    d = r.to_dict()
    assert d == expected and list(d) == list(expected)
    assert json.loads(r.to_json()) == json.loads(json.dumps(expected))
    assert ScanResult.from_dict(d) == r
    e = error_result("b.jpg", "truncated\nfile", model="m", threshold=0.5)
    assert e.to_dict()["error"] == "truncated file" and e.to_dict()["score"] is None


def test_to_dict_shares_nothing_mutable_with_the_record():
    r = _record()
    d = r.to_dict()
    d["provenance"]["signals"][0]["detail"]["issuer"] = "changed"
    d["heatmap"]["grid"].append(1)
    d["extra"]["new"] = 1
    assert r.provenance["signals"][0]["detail"]["issuer"] == "x"
    assert r.heatmap["grid"] == [16, 12] and "new" not in r.extra
    arr = ScanResult(path=None, score=0.1, label="real", threshold=0.5, model="m", extra={"cells": np.zeros(3)})
    copy = arr.to_dict()["extra"]["cells"]
    copy[0] = 5
    assert arr.extra["cells"][0] == 0  # non-JSON values are deep-copied, as asdict does

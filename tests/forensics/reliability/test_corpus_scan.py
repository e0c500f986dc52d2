"""Every hostile-input case through the decoder and `Detector.scan` / `scan_many` (issue 7)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from forensics.decoding import ImageDecodeError, load_image
from tests.forensics.reliability.corpus import check_outcome, check_pixels, tiny

PER_CASE_SECONDS = 20.0  # generous: the machine is shared; typical cases take milliseconds


def _runnable(cases):
    return [c for c in cases if not c.skip]


def test_corpus_is_large_and_named_uniquely(corpus):
    _, cases = corpus
    names = [c.name for c in cases]
    assert len(set(names)) == len(names)
    assert len(_runnable(cases)) >= 40
    assert {c.expect for c in cases} == {"score", "error"}
    for c in cases:
        assert c.expect in ("score", "error") and c.what
        assert not c.is_error or c.reason, c.name


def test_decoder_on_every_case(corpus):
    _, cases = corpus
    problems = []
    for case in _runnable(cases):
        if case.before:
            case.before()
        t0 = time.perf_counter()
        try:
            d = load_image(case.path)
        except ImageDecodeError as e:
            msg = check_outcome(case, label="error", error=str(e))
        else:
            assert d.rgb.dtype == np.uint8 and d.rgb.ndim == 3 and d.rgb.shape[2] == 3
            notes = d.notes + (("smaller than (added by the detector)",) if tiny(case) else ())
            msg = check_outcome(case, label="real", error=None, notes=notes, score=0.5) or check_pixels(case, d.rgb)
        if time.perf_counter() - t0 > PER_CASE_SECONDS:
            msg = f"took {time.perf_counter() - t0:.1f} s"
        if msg:
            problems.append(f"{case.name}: {msg}")
    assert not problems, "\n".join(problems)


def test_detector_scan_many_every_case(corpus, detector):
    """Listing first, then the files change (live cases), then one batched scan: one record per input,
    in order, nothing raised."""
    _, cases = corpus
    runnable = _runnable(cases)
    paths = [c.path for c in runnable]
    for c in runnable:
        if c.before:
            c.before()
    t0 = time.perf_counter()
    results = list(detector.scan_many(paths, batch_size=8, provenance=False))
    assert time.perf_counter() - t0 < PER_CASE_SECONDS * 3
    assert len(results) == len(runnable)
    problems = []
    for case, r in zip(runnable, results):
        assert r.path == str(case.path)
        msg = check_outcome(case, label=r.label, error=r.error, notes=r.notes, score=r.score,
                            width=r.width, height=r.height)
        if not msg and not case.is_error:
            if not (r.width and r.height and r.sha256 and len(r.sha256) == 64):
                msg = f"incomplete record {r.to_dict()}"
            elif case.check is not None:
                d = load_image(case.path)  # the decoder path the scan used: the image as displayed
                msg = check_pixels(case, d.rgb)
                if not msg and (d.width, d.height) != (r.width, r.height):
                    msg = f"record says {r.width}x{r.height}, decoded {d.width}x{d.height}"
                if not msg and d.sha256 != r.sha256:
                    msg = "sha256 of the record does not match the bytes decoded"
        if msg:
            problems.append(f"{case.name}: {msg}")
    assert not problems, "\n".join(problems)


def test_detector_scan_single_calls(corpus, detector):
    """`Detector.scan` (one at a time) on a sample of the error cases and odd in-memory inputs."""
    _, cases = corpus
    for case in [c for c in _runnable(cases) if c.is_error and c.in_folder][:12]:
        r = detector.scan(case.path, provenance=False)
        assert r.label == "error" and case.reason.lower() in r.error.lower(), (case.name, r.error)
    for odd in (None, 5, "", b"\x89PNG", np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 5), np.uint8),
                np.array([["a", "b"]]), np.full((8, 8, 3), np.nan, np.float32)):
        r = detector.scan(odd, provenance=False)
        assert r.label in ("error", "real", "fake")
        if r.label == "error":
            assert r.error and "\n" not in r.error


def test_pixel_limit_is_configurable(tmp_path, detector):
    from PIL import Image

    p = tmp_path / "img.png"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(p)
    assert detector.scan(p, provenance=False).label in ("real", "fake")
    r = detector.scan(p, provenance=False, max_pixels=1000)
    assert r.label == "error" and "over the limit of 1000" in r.error
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(p, max_pixels=64 * 48 - 1)
    assert load_image(p, max_pixels=64 * 48).width == 64

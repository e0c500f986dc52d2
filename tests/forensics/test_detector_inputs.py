"""`Detector.scan` on what a web service holds: encoded bytes and binary file objects, decoded like files."""
from __future__ import annotations

import hashlib
import io

import pytest


@pytest.fixture(scope="module")
def jpeg_file(tmp_path_factory, photos):
    from PIL import Image

    p = tmp_path_factory.mktemp("enc") / "photo.jpg"
    Image.fromarray(list(photos.values())[1]).save(p, quality=90)
    return p


@pytest.mark.parametrize("wrap", ["bytes", "bytearray", "memoryview", "BytesIO", "open-rb"])
def test_scan_accepts_encoded_bytes_and_binary_file_objects(detector, photo_files, jpeg_file, wrap):
    for path in (photo_files[0], jpeg_file):
        data = path.read_bytes()
        if wrap == "open-rb":
            with open(path, "rb") as fh:
                r = detector.scan(fh, provenance=False)
        else:
            item = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
                    "BytesIO": io.BytesIO(data)}[wrap]
            r = detector.scan(item, provenance=False)
        ref = detector.scan(path, provenance=False)
        assert not r.is_error, r.error
        assert r.path is None and r.sha256 == hashlib.sha256(data).hexdigest() == ref.sha256
        assert r.score == ref.score and r.label == ref.label and (r.width, r.height) == (ref.width, ref.height)
        assert r.file_size == len(data)


def test_bytes_get_the_file_decoder_checks_and_one_line_errors(detector, photo_files):
    html = detector.scan(b"<html><body>hello</body></html>", provenance=False)
    assert html.is_error and html.path is None and "HTML" in html.error
    empty = detector.scan(io.BytesIO(b""), provenance=False)
    assert empty.is_error and "empty" in empty.error
    cut = detector.scan(photo_files[0].read_bytes()[:200], provenance=False)
    assert cut.is_error and "truncated or corrupt" in cut.error
    big = detector.scan(photo_files[0].read_bytes(), provenance=False, max_pixels=100)
    assert big.is_error and "over the limit of 100" in big.error
    with open(photo_files[0], encoding="latin-1") as text_mode:
        r = detector.scan(text_mode, provenance=False)
    assert r.is_error and "binary mode" in r.error


def test_scan_many_score_and_heatmap_take_bytes(detector, photo_files):
    data = [p.read_bytes() for p in photo_files[:2]]
    many = list(detector.scan_many([data[0], io.BytesIO(data[1]), photo_files[0]], provenance=False))
    assert [r.path for r in many] == [None, None, str(photo_files[0])]
    assert many[0].score == many[2].score == detector.score(data[0])
    assert detector.heatmap(io.BytesIO(data[1])).shape == detector.heatmap(photo_files[1]).shape


def test_module_level_scan_takes_bytes(photo_files):
    import forensics

    r = forensics.scan(photo_files[0].read_bytes(), device="cpu", provenance=False)
    assert not r.is_error and r.path is None

"""Hostile and broken files: the inspector must never raise and must stay bounded."""
from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.provenance import inspect_full, inspect_provenance

IMG = np.full((64, 64, 3), 90, np.uint8)


def ok(result: dict) -> dict:
    json.dumps(result)
    assert isinstance(result["signals"], list)
    return result


def test_zero_bytes_text_and_missing(write, tmp_path):
    for name, data in [("zero.png", b""), ("text.png", b"hello, I am not an image\n" * 10),
                       ("html.jpg", b"<html><body>nope</body></html>")]:
        r = ok(inspect_provenance(write(name, data)))
        assert "error" in r and r["signals"] == []
    r = ok(inspect_provenance(tmp_path / "missing.png"))
    assert "cannot read file" in r["error"]
    assert "error" in ok(inspect_provenance(tmp_path))  # a directory
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert ok(inspect_provenance(fifo))["error"] == "not a regular file"  # must not block


def test_truncated_files_keep_what_was_read(mk, write):
    png = mk.png_bytes(mk.natural(0, 128, 128), text={"parameters": mk.A1111})
    jpg = mk.splice_jpeg(mk.jpeg_bytes(IMG), (0xFE, mk.A1111.encode()))
    for name, data in [("t.png", png[: len(png) // 2]), ("t.jpg", jpg[: len(jpg) // 2]),
                       ("h.png", png[:20]), ("h.jpg", jpg[:5])]:
        r = ok(inspect_provenance(write(name, data), deep=True))
        assert "error" not in r
    r = inspect_provenance(write("t2.png", png[: len(png) // 2]))
    assert r["signals"][0]["kind"] == "png_parameters"
    assert any("truncated" in w for w in r["warnings"])


def test_lying_lengths_and_bombs(mk, write):
    png = mk.png_bytes(IMG)
    huge = png[:33] + struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"key\x00value"
    assert "error" not in ok(inspect_provenance(write("len.png", huge)))
    bomb = b"parameters\x00\x00" + zlib.compress(b"A" * 50_000_000, 9)
    r = ok(inspect_full(write("bomb.png", mk.insert_png_chunk(png, b"zTXt", bomb))))
    assert len(r["metadata"]["png_text"][0]["value"]) <= 4000
    jpg = mk.jpeg_bytes(IMG)
    bad = jpg[:2] + b"\xff\xe1\x00\x01" + jpg[2:]  # segment length shorter than its own field
    ok(inspect_provenance(write("seg.jpg", bad)))
    riff = b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\x7f" + b"\x00" * 100
    ok(inspect_provenance(write("w.webp", riff)))
    ok(inspect_provenance(write("t.tif", b"II*\x00\xff\xff\xff\xff" + b"\x00" * 64)))


def test_many_tiny_chunks_stop(mk, write):
    png = mk.png_bytes(IMG)
    junk = b"".join(mk.png_chunk(b"prVt", b"") for _ in range(30_000))
    r = ok(inspect_provenance(write("many.png", png[:33] + junk + png[33:])))
    assert any("too many" in w for w in r["warnings"])


def test_hostile_exif_and_iptc(mk, write):
    exif_junk = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01" * 200
    app13 = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\xff\xff\xff\xff\x1c\x02\x05\xff\xff"
    data = mk.splice_jpeg(mk.jpeg_bytes(IMG), (0xE1, exif_junk), (0xED, app13),
                          (0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta" + b"<a:b>" * 5000))
    ok(inspect_full(write("x.jpg", data)))


_BASE: dict[str, bytes] = {}


def _base(mk) -> bytes:
    if not _BASE:
        exif = mk.exif_with(Software="NovelAI", Make="Canon")
        jpg = mk.splice_jpeg(mk.jpeg_bytes(IMG, exif=exif), (0xED, mk.iptc_app13((2, 65, b"x"))))
        _BASE["png"] = mk.png_bytes(IMG, text={"parameters": mk.A1111}, itxt={"prompt": mk.COMFY_PROMPT})
        _BASE["jpg"] = jpg
    return _BASE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["png", "jpg"]), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8))
def test_fuzzed_files_never_raise(mk, tmp_path, which, cut, flips):
    data = bytearray(_base(mk)[which])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    p = tmp_path / f"fuzz.{which}"
    p.write_bytes(bytes(data[: max(cut, 8)] if cut < len(data) else data))
    ok(inspect_full(p))

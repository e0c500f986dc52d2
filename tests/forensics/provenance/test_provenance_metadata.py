"""Metadata signals: PNG generation chunks, EXIF software, XMP / IPTC digital source type, clean files."""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from forensics.provenance import NOTE, inspect_full, inspect_provenance
from forensics.provenance.pngtext import parse_a1111

IMG = np.full((64, 80, 3), 120, np.uint8)


def kinds(result: dict) -> dict[str, str]:
    return {s["kind"]: s["strength"] for s in result["signals"]}


def check_contract(r: dict) -> None:
    json.dumps(r)
    assert set(r) >= {"signals", "camera", "checked", "unavailable", "note"}
    assert r["note"] == NOTE
    for s in r["signals"]:
        assert set(s) == {"kind", "value", "strength", "detail"} and s["strength"] in ("strong", "weak")


def test_a1111_parameters_chunk(mk, write):
    r = inspect_provenance(write("a.png", mk.png_bytes(IMG, text={"parameters": mk.A1111})))
    check_contract(r)
    assert kinds(r) == {"png_parameters": "strong"}
    d = r["signals"][0]["detail"]
    assert d["settings"]["Sampler"] == "DPM++ 2M Karras" and d["settings"]["Seed"] == "1234"
    assert d["prompt"].startswith("a lighthouse") and d["negative_prompt"] == "blurry, lowres"


def test_parse_a1111_rejects_plain_text():
    assert parse_a1111("Steps: to the beach") is None
    assert parse_a1111("just a caption") is None


@pytest.mark.parametrize("how", ["text", "itxt", "ztxt"])
def test_comfyui_chunks_any_chunk_type(mk, write, how):
    data = mk.png_bytes(IMG, **{how: {"prompt": mk.COMFY_PROMPT, "workflow": mk.COMFY_WORKFLOW}})
    r = inspect_provenance(write("c.png", data))
    sig = [s for s in r["signals"] if s["kind"] == "comfyui_workflow"]
    assert len(sig) == 2 and all(s["strength"] == "strong" for s in sig)
    api = next(s for s in sig if s["detail"]["graph"] == "prompt")
    assert "KSampler" in api["detail"]["node_types"]
    assert api["detail"]["checkpoints"] == ["sd_xl_base_1.0.safetensors"]


def test_novelai_and_invokeai(mk, write):
    r = inspect_provenance(write("n.png", mk.png_bytes(IMG, text={
        "Software": "NovelAI", "Comment": mk.NOVELAI_COMMENT, "Title": "AI generated image"})))
    assert kinds(r)["novelai_metadata"] == "strong"
    r = inspect_provenance(write("i.png", mk.png_bytes(IMG, text={"invokeai_metadata": '{"steps": 30}'})))
    assert kinds(r) == {"invokeai_metadata": "strong"}


def test_easy_diffusion_separate_keys(mk, write):
    r = inspect_provenance(write("e.png", mk.png_bytes(IMG, text={
        "prompt": "a castle", "negative_prompt": "", "seed": "7", "num_inference_steps": "25"})))
    assert kinds(r) == {"png_parameters": "strong"}


def test_software_name_only_is_weak(mk, write):
    r = inspect_provenance(write("s.png", mk.png_bytes(IMG, text={"Software": "Midjourney v6"})))
    assert kinds(r) == {"png_software": "weak"}


def test_jpeg_exif_software_and_camera(mk, write):
    exif = mk.exif_with(Software="Adobe Firefly Image 3", Make="Canon", Model="EOS R5")
    r = inspect_provenance(write("f.jpg", mk.jpeg_bytes(IMG, exif=exif)))
    check_contract(r)
    assert kinds(r) == {"exif_software": "weak"}
    assert r["camera"] == {"make": "Canon", "model": "EOS R5"}


def test_jpeg_usercomment_parameters_utf16(mk, write):
    exif = mk.exif_with(UserComment=b"UNICODE\x00" + mk.A1111.encode("utf-16-be"))
    r = inspect_provenance(write("u.jpg", mk.jpeg_bytes(IMG, exif=exif)))
    sig = r["signals"][0]
    assert sig["kind"] == "png_parameters" and sig["detail"]["source"] == "exif"
    assert sig["detail"]["settings"]["Steps"] == "28"


@pytest.mark.parametrize("term,strength", [("trainedAlgorithmicMedia", "strong"),
                                           ("compositeWithTrainedAlgorithmicMedia", "strong"),
                                           ("algorithmicMedia", "weak")])
def test_xmp_digital_source_type_jpeg(mk, write, term, strength):
    xmp = mk.xmp_packet(**{"Iptc4xmpExt:DigitalSourceType": mk.TST + term, "xmp:CreatorTool": "GIMP 2.10"})
    data = mk.splice_jpeg(mk.jpeg_bytes(IMG), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()))
    r = inspect_provenance(write("x.jpg", data))
    assert [(s["kind"], s["value"], s["strength"]) for s in r["signals"]] == \
        [("iptc_digital_source_type", term, strength)]
    assert r["signals"][0]["detail"]["source"] == "xmp"


def test_iptc_iim_source_type_and_program(mk, write):
    app13 = mk.iptc_app13((2, 0, b"\x00\x04"), (2, 65, b"Midjourney"),
                          (2, 115, (mk.TST + "trainedAlgorithmicMedia").encode()))
    r = inspect_full(write("i.jpg", mk.splice_jpeg(mk.jpeg_bytes(IMG), (0xED, app13))))
    got = {(s["kind"], s["strength"]) for s in r["signals"]}
    assert got == {("iptc_digital_source_type", "strong"), ("iptc_iim_software", "weak")}
    assert r["metadata"]["iptc"]["2:65 OriginatingProgram"] == "Midjourney"


def test_png_xmp_itxt_and_comment(mk, write):
    xmp = mk.xmp_packet(**{"Iptc4xmpExt:DigitalSourceType": mk.TST + "trainedAlgorithmicMedia"})
    r = inspect_provenance(write("p.png", mk.png_bytes(IMG, itxt={"XML:com.adobe.xmp": xmp})))
    assert kinds(r) == {"iptc_digital_source_type": "strong"}
    data = mk.splice_jpeg(mk.jpeg_bytes(IMG), (0xFE, mk.A1111.encode()))
    r = inspect_provenance(write("c.jpg", data))
    assert r["signals"][0]["detail"]["source"] == "jpeg-comment"


def test_webp_exif_usercomment(mk, write):
    exif = mk.exif_with(UserComment=b"UNICODE\x00" + mk.A1111.encode("utf-16-be"))
    buf = io.BytesIO()
    try:
        Image.fromarray(IMG).save(buf, "WEBP", exif=exif.tobytes())
    except (OSError, KeyError, ValueError):
        pytest.skip("Pillow built without WebP")
    r = inspect_provenance(write("w.webp", buf.getvalue()))
    assert r["format"] == "webp" and kinds(r) == {"png_parameters": "strong"}


def test_clean_files_report_nothing(mk, write):
    exif = mk.exif_with(Software="Adobe Lightroom Classic 13.0", Make="NIKON CORPORATION", Model="Z 6")
    paths = [write("c.png", mk.png_bytes(mk.natural(1, 64, 64), text={"Comment": "holiday"})),
             write("c.jpg", mk.jpeg_bytes(mk.natural(2, 64, 64), exif=exif)),
             write("d.jpg", mk.splice_jpeg(mk.jpeg_bytes(IMG), (0xFE, b"CREATOR: gd-jpeg v1.0")))]
    for p in paths:
        r = inspect_provenance(p)
        check_contract(r)
        assert r["signals"] == [] and "error" not in r, (p, r)
    assert inspect_provenance(paths[1])["camera"]["make"] == "NIKON CORPORATION"


def test_full_dump_lists_metadata(mk, write):
    exif = mk.exif_with(Software="GIMP 2.10", Make="Canon")
    r = inspect_full(write("g.jpg", mk.jpeg_bytes(IMG, exif=exif)))
    assert r["metadata"]["exif"]["Software"] == "GIMP 2.10" and r["path"].endswith("g.jpg")
    json.dumps(r)


def test_bounded_reads_and_speed(mk, write):
    big = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    p = write("big.png", mk.png_bytes(big, text={"parameters": mk.A1111}))
    q = write("big.jpg", mk.jpeg_bytes(big, quality=95))
    assert p.stat().st_size > 5_000_000
    for path in (p, q):
        assert inspect_full(path)["metadata"]["metadata_bytes_read"] < 64 * 1024
    inspect_provenance(p)
    t = time.perf_counter()
    for _ in range(20):
        inspect_provenance(p)
        inspect_provenance(q)
    assert (time.perf_counter() - t) / 40 < 0.02  # a few ms each; loose for a shared machine

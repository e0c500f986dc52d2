"""Builders for the provenance tests: every test file is generated here, nothing is committed."""
from __future__ import annotations

import io
import json
import struct
import types
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, PngImagePlugin

A1111 = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry, lowres\n"
         "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
         "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.6.0")
TST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def natural(seed: int, h: int = 384, w: int = 512, shapes: bool = True) -> np.ndarray:
    """A 'natural-ish' RGB image: 1/f colour noise, a few flat discs (``shapes``), sensor noise."""
    rng = np.random.default_rng(seed)
    h2, w2 = (h + 1) // 2, (w + 1) // 2  # synthesise at half size, then upsample (cheap, smooth)
    fy, fx = np.meshgrid(np.fft.fftfreq(h2), np.fft.fftfreq(w2), indexing="ij")
    amp = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(h2, w2)) ** rng.uniform(0.8, 1.2)
    fields = []
    for _ in range(2):  # real and imaginary parts are two independent 1/f fields
        z = np.fft.ifft2(amp * (rng.normal(size=(h2, w2)) + 1j * rng.normal(size=(h2, w2))))
        fields += [z.real, z.imag]
    img = np.stack([fields[0] + 0.5 * f for f in fields[1:]], -1).astype(np.float32)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(rng.integers(1, 4) if shapes else 0):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(20, min(h, w) // 3)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3) * 0.8 + 0.1
    img += rng.normal(0, 0.01, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def splice_jpeg(jpeg: bytes, *segments: tuple[int, bytes]) -> bytes:
    """Insert (marker, payload) segments right after SOI."""
    out = bytearray(jpeg[:2])
    for marker, payload in segments:
        out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return bytes(out) + jpeg[2:]


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def insert_png_chunk(png: bytes, ctype: bytes, data: bytes) -> bytes:
    """Insert a chunk right after IHDR."""
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + png_chunk(ctype, data) + png[ihdr_end:]


def xmp_packet(**props: str) -> str:
    attrs = " ".join(f'{k}="{v}"' for k, v in props.items())
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" {attrs}/>'
            '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def iptc_app13(*records: tuple[int, int, bytes]) -> bytes:
    """Photoshop APP13 payload holding one IPTC-IIM resource."""
    iim = b"".join(b"\x1c" + bytes([r, d]) + struct.pack(">H", len(v)) + v for r, d, v in records)
    res = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    return b"Photoshop 3.0\x00" + res + (b"\x00" if len(iim) % 2 else b"")


def jpeg_bytes(rgb: np.ndarray, quality: int = 90, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, **({"exif": exif.tobytes()} if exif else {}))
    return buf.getvalue()


def png_bytes(rgb: np.ndarray, text: dict[str, str] | None = None, itxt: dict[str, str] | None = None,
              ztxt: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    for k, v in (itxt or {}).items():
        info.add_itxt(k, v, zip=True)
    for k, v in (ztxt or {}).items():
        info.add_text(k, v, zip=True)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def exif_with(**tags: object) -> Image.Exif:
    exif = Image.Exif()
    for name, value in tags.items():
        tag = {v: k for k, v in ExifTags.TAGS.items()}[name]
        if name == "UserComment":
            exif[ExifTags.IFD.Exif] = {tag: value}
        else:
            exif[tag] = value
    return exif


COMFY_PROMPT = json.dumps({
    "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 8, "model": ["4", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI"}},
})
COMFY_WORKFLOW = json.dumps({"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"},
                                                          {"id": 9, "type": "SaveImage"}]})
NOVELAI_COMMENT = json.dumps({"prompt": "1girl, masterpiece", "steps": 28, "height": 768, "width": 512,
                              "scale": 11, "seed": 42, "sampler": "k_euler_ancestral", "uc": "lowres"})


@pytest.fixture(scope="session")
def mk() -> types.SimpleNamespace:
    """The builders above, as one namespace."""
    return types.SimpleNamespace(
        natural=natural, splice_jpeg=splice_jpeg, png_chunk=png_chunk, insert_png_chunk=insert_png_chunk,
        xmp_packet=xmp_packet, iptc_app13=iptc_app13, jpeg_bytes=jpeg_bytes, png_bytes=png_bytes,
        exif_with=exif_with, A1111=A1111, TST=TST, COMFY_PROMPT=COMFY_PROMPT,
        COMFY_WORKFLOW=COMFY_WORKFLOW, NOVELAI_COMMENT=NOVELAI_COMMENT)


@pytest.fixture()
def write(tmp_path: Path):
    """write(name, data) -> path of a new file in tmp_path."""
    def _write(name: str, data: bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return _write

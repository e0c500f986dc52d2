"""EXIF, XMP and IPTC-IIM fields: software / creator tool, IPTC digital source type, camera."""
from __future__ import annotations

import re
import warnings
from typing import Any

from forensics.provenance._container import Container
from forensics.provenance._signals import GENERATOR_RE, signal

MAX_VALUE_CHARS = 2000

#: IPTC digital source types that state the pixels were made by a generative model (strong),
#: or by an algorithm / synthetic composite without saying "trained model" (weak).
SOURCE_TYPE_STRENGTH = {
    "trainedalgorithmicmedia": "strong",
    "compositewithtrainedalgorithmicmedia": "strong",
    "algorithmicmedia": "weak",
    "compositesynthetic": "weak",
    "datadrivenmedia": "weak",
    "softwareimage": "weak",
}
_SOURCE_TYPE_RE = re.compile(
    r"\b(trainedAlgorithmicMedia|compositeWithTrainedAlgorithmicMedia|algorithmicMedia|"
    r"compositeSynthetic|dataDrivenMedia|softwareImage)\b", re.I
)
_CANONICAL = {t.lower(): t for t in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
                                      "algorithmicMedia", "compositeSynthetic", "dataDrivenMedia",
                                      "softwareImage")}

IIM_NAMES = {
    5: "ObjectName", 25: "Keywords", 40: "SpecialInstructions", 65: "OriginatingProgram",
    70: "ProgramVersion", 80: "By-line", 85: "By-lineTitle", 105: "Headline", 110: "Credit",
    115: "Source", 116: "CopyrightNotice", 120: "Caption-Abstract", 122: "Writer-Editor",
}
_XMP_ATTR_RE = re.compile(r"\b([A-Za-z][\w.-]*:[A-Za-z][\w.-]*)=\"([^\"]{0,4000})\"")
_XMP_ELEM_RE = re.compile(r"<([A-Za-z][\w.-]*:[A-Za-z][\w.-]*)(?:\s[^>]*)?>([^<]{1,4000})</\1>")
_XMP_LI_RE = re.compile(
    r"<([A-Za-z][\w.-]*:[A-Za-z][\w.-]*)>\s*<rdf:(?:Alt|Seq|Bag)>\s*<rdf:li[^>]*>([^<]{1,4000})</rdf:li>"
)
_XMP_SOFTWARE_KEYS = ("xmp:CreatorTool", "stEvt:softwareAgent", "tiff:Software", "exif:Software",
                      "photoshop:Source")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.rstrip(b"\x00").decode("utf-8", "replace")
    return str(value)[:MAX_VALUE_CHARS].strip()


def decode_user_comment(raw: Any) -> str:
    """EXIF UserComment: 8-byte charset prefix (ASCII / UNICODE / JIS), then text."""
    if not isinstance(raw, bytes):
        return _text(raw)
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        for enc in ("utf-16-be", "utf-16-le"):
            text = body.decode(enc, "replace")
            if sum(c.isascii() for c in text[:200]) >= 0.8 * min(len(text), 200):
                return text.rstrip("\x00")[:1024 * 1024]
        return body.decode("utf-16-be", "replace").rstrip("\x00")
    if prefix.startswith((b"ASCII", b"\x00\x00\x00\x00\x00\x00\x00\x00", b"JIS")):
        return body.rstrip(b"\x00").decode("utf-8", "replace")
    return raw.rstrip(b"\x00").decode("utf-8", "replace")


def parse_exif(blobs: list[bytes]) -> dict[str, str]:
    """Flatten base-IFD and Exif-IFD tags of every EXIF blob into name -> text (bounded)."""
    from PIL import ExifTags, Image

    out: dict[str, str] = {}
    for blob in blobs[:4]:
        try:
            with warnings.catch_warnings():  # Pillow warns on corrupt tags; we stay quiet
                warnings.simplefilter("ignore")
                exif = Image.Exif()
                exif.load(blob if blob.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + blob)
                items = list(exif.items())[:300]
                try:
                    items += list(exif.get_ifd(ExifTags.IFD.Exif).items())[:300]
                except Exception:  # noqa: BLE001 - a broken sub-IFD must not lose the base IFD
                    pass
        except Exception:  # noqa: BLE001 - hostile EXIF: Pillow raises many types
            continue
        for tag, value in items:
            name = ExifTags.TAGS.get(tag, f"0x{tag:04x}")
            if name in ("ExifOffset", "GPSInfo", "MakerNote", "PrintImageMatching"):
                continue
            if name == "UserComment":
                out[name] = decode_user_comment(value)
            elif isinstance(value, bytes) and sum(b < 9 for b in value[:64]) > 4:
                out[name] = f"<{len(value)} bytes>"
            else:
                out.setdefault(name, _text(value))
    return out


def parse_xmp(packets: list[str]) -> dict[str, str]:
    """Simple XMP properties (attribute and element forms) as name -> text; no XML parser."""
    out: dict[str, str] = {}
    for packet in packets[:8]:
        packet = packet[:2 * 1024 * 1024]
        for rx in (_XMP_ATTR_RE, _XMP_ELEM_RE, _XMP_LI_RE):
            for m in rx.finditer(packet):
                name = m.group(1)
                if name.startswith(("xmlns", "rdf:", "x:")):
                    continue
                out.setdefault(name, m.group(2).strip()[:MAX_VALUE_CHARS])
    return out


def parse_iim(blobs: list[bytes]) -> dict[str, str]:
    """IPTC-IIM records (0x1C tag, record, dataset, length, value) as 'r:d Name' -> text."""
    out: dict[str, str] = {}
    for blob in blobs[:4]:
        pos = 0
        while pos + 5 <= len(blob) and blob[pos] == 0x1C and len(out) < 500:
            rec, ds = blob[pos + 1], blob[pos + 2]
            size = int.from_bytes(blob[pos + 3:pos + 5], "big")
            pos += 5
            if size & 0x8000:  # extended length: next (size & 0x7FFF) bytes hold the length
                n = size & 0x7FFF
                size = int.from_bytes(blob[pos:pos + n], "big") if n <= 4 else 0
                pos += n
            value = blob[pos:pos + size]
            pos += size
            key = f"{rec}:{ds}" + (f" {IIM_NAMES[ds]}" if rec == 2 and ds in IIM_NAMES else "")
            text = _text(value)
            out[key] = f"{out[key]}; {text}" if key in out else text
    return out


def source_type_signals(texts: dict[str, str], origin: str) -> list[dict]:
    """IPTC digital-source-type terms for generated media found in field values."""
    found: dict[str, str] = {}
    for key, text in texts.items():
        for m in _SOURCE_TYPE_RE.finditer(text):
            found.setdefault(_CANONICAL[m.group(1).lower()], key)
    sigs = []
    for term, key in found.items():
        strength = SOURCE_TYPE_STRENGTH[term.lower()]
        sigs.append(signal("iptc_digital_source_type", term, strength, source=origin, field=key,
                           uri=f"http://cv.iptc.org/newscodes/digitalsourcetype/{term}"))
    return sigs


def software_signals(exif: dict[str, str], xmp: dict[str, str], iim: dict[str, str]) -> list[dict]:
    """Software / creator-tool fields that name a known image generator (weak: a free-text label)."""
    sigs, seen = [], set()
    fields = [("exif", k, exif.get(k, "")) for k in ("Software", "ProcessingSoftware", "Artist",
                                                     "ImageDescription", "Make")]
    fields += [("xmp", k, xmp.get(k, "")) for k in _XMP_SOFTWARE_KEYS]
    fields += [("iptc-iim", k, v) for k, v in iim.items() if "OriginatingProgram" in k or "Source" in k]
    for origin, key, value in fields:
        m = GENERATOR_RE.search(value) if value else None
        if m and (key, value) not in seen:
            seen.add((key, value))
            kind = "exif_software" if origin == "exif" else f"{origin.replace('-', '_')}_software"
            sigs.append(signal(kind, value[:200], "weak", source=origin, field=key,
                               matched=m.group(0)))
    return sigs


def camera(exif: dict[str, str], xmp: dict[str, str]) -> dict[str, str | None]:
    """Camera make/model (presence is recorded, not treated as evidence either way)."""
    def clean(v: str | None) -> str | None:
        if not v or v.startswith(("workflow:", "prompt:")) or len(v) > 200:
            return None
        return v
    make = clean(exif.get("Make")) or clean(xmp.get("tiff:Make"))
    model = clean(exif.get("Model")) or clean(xmp.get("tiff:Model"))
    return {"make": make, "model": model}


def inspect_metadata(box: Container) -> tuple[list[dict], dict[str, Any]]:
    """Signals and the parsed EXIF / XMP / IPTC dump of a container."""
    exif = parse_exif(box.exif)
    xmp = parse_xmp(box.xmp)
    iim = parse_iim(box.iptc)
    packets = {"packet": "\n".join(box.xmp)[:4 * 1024 * 1024]} if box.xmp else {}
    sigs = source_type_signals(xmp, "xmp") or source_type_signals(packets, "xmp")
    sigs += source_type_signals(iim, "iptc-iim")
    sigs += software_signals(exif, xmp, iim)
    dump = {"exif": exif, "xmp": xmp, "iptc": iim}
    return sigs, dump

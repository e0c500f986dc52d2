"""Provenance evidence beside the pixel score: metadata, content credentials, watermarks.

``inspect_provenance(path)`` reads only metadata blocks (bounded bytes, a few ms per file) and
returns a JSON-serialisable dict of signals, each with a strength (``strong``: the file states
that a generative model made it; ``weak``: a hint such as a generator's name in a free-text
field). ``deep=True`` also decodes the pixels for Stable Diffusion's invisible watermark.
Nothing here is blended with the pixel detector's score, and the absence of signals is not
evidence of authenticity: metadata is stripped by most re-encoders and can be forged.
"""
from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from forensics.provenance import c2pa as _c2pa
from forensics.provenance import metadata, pngtext, watermark
from forensics.provenance._container import Container, read_container
from forensics.provenance._signals import signal

__all__ = ["inspect_provenance", "inspect_full", "NOTE", "signal"]

NOTE = "absence of provenance signals is not evidence of authenticity"
_STRENGTH_ORDER = {"strong": 0, "weak": 1}


def _base(deep: bool) -> dict[str, Any]:
    checked = ["exif", "xmp", "iptc", "png_text", "c2pa"] + (["watermark"] if deep else [])
    unavailable = {} if _c2pa.available() else {"c2pa": _c2pa.INSTALL_HINT}
    return {"signals": [], "camera": {"make": None, "model": None}, "checked": checked,
            "unavailable": unavailable, "note": NOTE}


def _analyse(path: str | Path, deep: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result, dump): the provenance dict and the parsed metadata behind it."""
    out = _base(deep)
    try:
        if not stat.S_ISREG(Path(path).stat().st_mode):  # FIFOs, devices, folders: never open
            out["error"] = "not a regular file"
            return out, {}
        box: Container = read_container(path)
    except OSError as exc:
        out["error"] = f"cannot read file: {exc.strerror or exc}"
        return out, {}
    except Exception as exc:  # noqa: BLE001 - never raise on a hostile file
        out["error"] = f"cannot parse file: {type(exc).__name__}: {exc}"
        return out, {}
    if box.format == "unknown":
        out["error"] = "not a recognised image file (PNG, JPEG, WebP, TIFF, GIF, BMP, HEIF/AVIF)"
        return out, {}
    out["format"] = box.format
    sigs: list[dict] = []
    dump: dict[str, Any] = {}
    try:
        meta_sigs, dump = metadata.inspect_metadata(box)
        sigs += meta_sigs
        sigs += pngtext.inspect_text(pngtext.text_items(box.text, box.comments, dump["exif"]))
        out["camera"] = metadata.camera(dump["exif"], dump["xmp"])
        prov = dump["xmp"].get("dcterms:provenance")
        if prov:
            sigs.append(signal("c2pa_remote_manifest", prov[:300], "weak", source="xmp",
                               note="manifest referenced by URL; not fetched"))
    except Exception as exc:  # noqa: BLE001
        out.setdefault("warnings", []).append(f"metadata parser failed: {type(exc).__name__}: {exc}")
    c2_sigs, c2_summary, c2_err = _c2pa.inspect_c2pa(path, box.c2pa, box.format)
    sigs += c2_sigs
    if c2_summary is not None:
        out["c2pa"] = c2_summary
    if c2_err:
        out.setdefault("warnings", []).append(c2_err)
    if deep:
        wm_sigs, wm_result = watermark.inspect_watermark(path)
        sigs += wm_sigs
        out["watermark"] = wm_result
    if box.warnings:
        out.setdefault("warnings", []).extend(box.warnings[:10])
    out["signals"] = sorted(sigs, key=lambda s: _STRENGTH_ORDER[s["strength"]])
    dump.update({"png_text": [{"key": k, "chunk": c, "value": v[:4000]} for k, v, c in box.text],
                 "comments": [c[:4000] for c in box.comments], "c2pa_markers": box.c2pa,
                 "width": box.width, "height": box.height, "metadata_bytes_read": box.bytes_read})
    return out, dump


def inspect_provenance(path: str | Path, *, deep: bool = False) -> dict[str, Any]:
    """Provenance signals of one image file; never raises (an ``error`` key says what failed)."""
    try:
        return _analyse(path, deep)[0]
    except Exception as exc:  # noqa: BLE001 - last line of defence
        out = _base(deep)
        out["error"] = f"provenance inspection failed: {type(exc).__name__}: {exc}"
        return out


def inspect_full(path: str | Path, *, deep: bool = False) -> dict[str, Any]:
    """``inspect_provenance`` plus the full parsed metadata (``metadata`` key) for ``forensics inspect``."""
    try:
        out, dump = _analyse(path, deep)
    except Exception as exc:  # noqa: BLE001
        out, dump = _base(deep), {}
        out["error"] = f"provenance inspection failed: {type(exc).__name__}: {exc}"
    out["path"] = str(path)
    out["metadata"] = dump
    return out

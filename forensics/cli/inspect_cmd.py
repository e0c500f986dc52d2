"""`forensics inspect FILE`: provenance signals and the full metadata dump of one image."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from forensics.cli.common import fail


def _fmt_detail(detail: dict[str, Any]) -> str:
    parts = []
    for key, value in detail.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={str(value)[:160]}")
    return "; ".join(parts)


def render(result: dict[str, Any]) -> str:
    """Readable text for an ``inspect_full`` result."""
    meta = result.get("metadata") or {}
    size = f"  {meta.get('width')}x{meta.get('height')}" if meta.get("width") else ""
    lines = [f"file: {result.get('path')}", f"format: {result.get('format', '?')}{size}"]
    sigs = result.get("signals", [])
    lines.append(f"provenance signals: {len(sigs)}")
    for s in sigs:
        lines.append(f"  [{s['strength']}] {s['kind']}: {s['value'][:200]}".replace("\n", " | "))
        if s.get("detail"):
            lines.append(f"      {_fmt_detail(s['detail'])}")
    if not sigs:
        lines.append("  none found")
    lines.append(f"note: {result.get('note')}")
    cam = result.get("camera") or {}
    if cam.get("make") or cam.get("model"):
        lines.append(f"camera: {cam.get('make') or '?'} {cam.get('model') or ''}".rstrip())
    if result.get("c2pa"):
        lines.append(f"c2pa: {_fmt_detail(result['c2pa'])}")
    if result.get("watermark"):
        wm = result["watermark"]
        if "skipped" in wm:
            lines.append(f"watermark: not checked ({wm['skipped']})")
        else:
            b = wm["best"]
            lines.append(f"watermark: best pattern {b['pattern']} ({b['order']}) agrees on "
                         f"{b['agree']}/{b['n_bits']} bits, adjusted p={b['p_adjusted']:.3g}, "
                         f"{'MATCH' if b['match'] else 'no match'} at alpha={wm['alpha']:g}")
    lines.append("checked: " + ", ".join(result.get("checked", [])))
    for name, why in (result.get("unavailable") or {}).items():
        lines.append(f"unavailable: {name}: {why}")
    for w in result.get("warnings", []):
        lines.append(f"warning: {w}")
    for section in ("exif", "xmp", "iptc"):
        fields = meta.get(section) or {}
        if fields:
            lines.append(f"{section.upper()}:")
            lines += [f"  {k}: {str(v)[:300]}".replace("\n", " | ") for k, v in fields.items()]
    texts = meta.get("png_text") or []
    if texts:
        lines.append("PNG text chunks:")
        lines += [f"  {t['key']} ({t['chunk']}): {t['value'][:300]}".replace("\n", " | ") for t in texts]
    for c in meta.get("comments") or []:
        lines.append(f"comment: {c[:300]}".replace("\n", " | "))
    return "\n".join(lines)


def inspect(
    path: Path = typer.Argument(..., help="Image file to inspect."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    deep: bool = typer.Option(False, "--deep", help="Also decode pixels for invisible watermarks."),
) -> None:
    """Show provenance signals (metadata, C2PA, watermarks) and the full metadata of FILE."""
    from forensics.provenance import inspect_full

    if not path.is_file():
        fail(f"{path}: no such file")
    result = inspect_full(path, deep=deep)
    if "error" in result:
        fail(f"{path}: {result['error']}")
    typer.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str) if json_out else render(result))

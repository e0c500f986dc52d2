"""Self-contained HTML reports (jinja2; images inlined as data URIs)."""
from __future__ import annotations

import base64
import datetime as _dt
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from jinja2 import Environment, FileSystemLoader, select_autoescape

from forensics.results import ScanResult

TEMPLATES = Path(__file__).parent / "templates"


def data_uri(png_path: Path) -> str:
    """Inline a PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))


def _provenance_line(prov: Optional[dict[str, Any]]) -> str:
    if not prov:
        return ""
    if prov.get("error"):
        return f"not inspected ({prov['error']})"
    sigs = prov.get("signals") or []
    if not sigs:
        return "no signals found (absence is not evidence of authenticity)"
    return "; ".join(f"{s.get('kind')}: {str(s.get('value'))[:80]} [{s.get('strength')}]" for s in sigs)


def write_scan_report(results: Sequence[ScanResult], out: Path, *, title: str = "forensics scan report",
                      extra_sections: Iterable[dict[str, str]] = ()) -> Path:
    """One HTML file with a summary and one card (overlay, verdict, provenance) per image."""
    results = list(results)
    rows = []
    for r in results:
        overlay = (r.heatmap or {}).get("overlay")
        rows.append({"name": r.path or "<array>", "label": r.label, "score": r.score, "width": r.width,
                     "height": r.height, "error": r.error, "provenance": _provenance_line(r.provenance),
                     "notes": "; ".join(r.notes),
                     "overlay": data_uri(Path(overlay)) if overlay and Path(overlay).is_file() else None})
    counts = dict(Counter(r.label for r in results))
    first = results[0] if results else None
    html = _env().get_template("scan_report.html.j2").render(
        title=title, model=first.model if first else "-", threshold=first.threshold if first else 0.5,
        n_total=len(results), counts=counts, rows=rows, extra_sections=list(extra_sections),
        when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out

"""A report of an audit (`forensics report audit.jsonl`, `forensics audit DIR --report page.html`).

A moderator has one unlabelled folder, audited to JSONL: this page shows what the audit found in it.

- counts per verdict (any label string; ordered fake, uncertain, real, other labels, error);
- the P(fake) histogram by verdict (inline SVG);
- a gallery of the top N records (fake first, then uncertain, then the rest, each by score, highest
  first): a thumbnail of the image beside its heatmap overlay, its notes, provenance signals and, for a
  fused model, each branch's score;
- a compact table of the top few hundred records, the unreadable files with their reasons, and the
  audit's summary (files walked, ignored by type) when its summary JSON lies beside the JSONL.

It is built for large audits: the JSONL is streamed once and only the top records are kept (a heap),
so memory does not grow with the audit; only the gallery's N images are read and only when the
records do not name an overlay file is the detector loaded (once) to compute their cell maps.
Thumbnails are small JPEGs embedded as data URIs: the page is one self-contained file.
"""
from __future__ import annotations

import base64
import datetime as _dt
import heapq
import html as _html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

PathLike = Union[str, Path]

KNOWN_ORDER = ("fake", "uncertain", "real")   # then other labels (alphabetically), then "error"
GALLERY_RANK = {"fake": 0, "uncertain": 1}     # every other scored label: 2
LABEL_COLOURS = {"fake": "#b3261e", "uncertain": "#d89b00", "real": "#1b6e3a", "error": "#7a5b00"}
OTHER_COLOURS = ("#5b5fc7", "#0f7b8a", "#8a3ffc", "#6b6b6b")
HIST_BINS = 20
MAX_ERRORS_LISTED = 500
THUMB_SIDE = 240          # longest side of each half of a gallery thumbnail (image | overlay)
THUMB_QUALITY = 78


class AuditReportError(ValueError):
    """The JSONL cannot be read as an audit (missing, malformed line, no records): one line for the user."""


def label_order(labels: Any) -> list[str]:
    """fake, uncertain, real, any other labels alphabetically, error last."""
    labels = set(labels)
    first = [k for k in KNOWN_ORDER if k in labels]
    rest = sorted(k for k in labels if k not in KNOWN_ORDER and k != "error")
    return first + rest + (["error"] if "error" in labels else [])


def label_colour(label: str, order: list[str]) -> str:
    if label in LABEL_COLOURS:
        return LABEL_COLOURS[label]
    others = [k for k in order if k not in LABEL_COLOURS]
    return OTHER_COLOURS[others.index(label) % len(OTHER_COLOURS)] if label in others else OTHER_COLOURS[-1]


def _provenance_signals(prov: Any) -> tuple[str, int]:
    """(one line, number of signals) from a record's provenance field."""
    if not isinstance(prov, dict):
        return "", 0
    if prov.get("error"):
        return f"not inspected ({prov['error']})", 0
    sigs = prov.get("signals") or []
    if not isinstance(sigs, list) or not sigs:
        return "no signals found", 0
    parts = []
    for s in sigs:
        if isinstance(s, dict):
            parts.append(f"{s.get('kind')}: {str(s.get('value'))[:80]} [{s.get('strength')}]")
        else:
            parts.append(str(s)[:100])
    return "; ".join(parts), len(sigs)


def _branches(rec: dict[str, Any]) -> Optional[dict[str, Optional[float]]]:
    """{"patch": 0.91, "clip": None, ...} from a record's `branches` field (None when absent)."""
    b = rec.get("branches")
    if not isinstance(b, dict) or not b:
        return None
    out: dict[str, Optional[float]] = {}
    for name, v in b.items():
        score = v.get("score") if isinstance(v, dict) else (v if isinstance(v, (int, float)) else None)
        out[str(name)] = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    return out


def _note_key(note: str) -> str:
    """Group notes by their kind: the text before the first ':' (or the first 60 characters)."""
    note = " ".join(str(note).split())
    head = note.split(":", 1)[0]
    return head[:60]


@dataclass
class AuditRead:
    """What one pass over the JSONL keeps: counts, histograms, the top records and the listed errors."""

    path: Path
    records: int = 0
    counts: Counter = field(default_factory=Counter)
    hist: dict[str, list[int]] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)      # sorted, gallery order
    errors: list[dict[str, Any]] = field(default_factory=list)   # first MAX_ERRORS_LISTED unreadable files
    n_errors: int = 0
    models: Counter = field(default_factory=Counter)
    thresholds: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    with_provenance_signals: int = 0
    provenance_flagged: int = 0
    has_branches: bool = False
    skipped_torn_line: Optional[int] = None

    @property
    def order(self) -> list[str]:
        return label_order(self.counts)


def _score_of(rec: dict[str, Any]) -> Optional[float]:
    s = rec.get("score")
    return float(s) if isinstance(s, (int, float)) and not isinstance(s, bool) else None


def _compact(rec: dict[str, Any], line: int) -> dict[str, Any]:
    prov, n_sig = _provenance_signals(rec.get("provenance"))
    heat = rec.get("heatmap") if isinstance(rec.get("heatmap"), dict) else {}
    notes = rec.get("notes") if isinstance(rec.get("notes"), list) else []
    return {"line": line, "path": rec.get("path"), "label": str(rec.get("label")), "score": _score_of(rec),
            "threshold": rec.get("threshold"), "model": rec.get("model"), "width": rec.get("width"),
            "height": rec.get("height"), "file_size": rec.get("file_size"), "notes": [str(n) for n in notes],
            "provenance": prov, "n_signals": n_sig, "branches": _branches(rec),
            "overlay": heat.get("overlay") if isinstance(heat.get("overlay"), str) else None,
            "heat_max": heat.get("max"), "fraction_fake_cells": heat.get("fraction_fake_cells")}


def read_audit(jsonl: PathLike, *, keep: int = 300, log: Optional[Callable[[str], None]] = None) -> AuditRead:
    """Stream an audit JSONL once; keep counts, per-verdict histograms, the `keep` records that come first
    in gallery order (fake, uncertain, then the rest; each by score, highest first) and the first
    MAX_ERRORS_LISTED unreadable files. Raises AuditReportError (file and line number) for a missing
    file, a line that is not a JSON object with a `label`, or a file without records; a torn last line
    (no newline: an interrupted audit) is skipped with a warning."""
    path = Path(jsonl)
    if not path.exists():
        raise AuditReportError(f"{path}: no such file (give the JSONL that `forensics audit --out` wrote)")
    if path.is_dir():
        raise AuditReportError(f"{path}: is a folder; give the audit's JSONL file")
    res = AuditRead(path=path)
    heap: list[tuple[tuple, dict[str, Any]]] = []
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise AuditReportError(f"{path}: cannot be read ({e.strerror or e})") from None
    with fh:
        lineno = 0
        for raw in fh:
            lineno += 1
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                if not raw.endswith(b"\n") and res.records:  # torn last line of an interrupted audit
                    res.skipped_torn_line = lineno
                    if log:
                        log(f"warning: {path}:{lineno}: skipped an incomplete last line (an interrupted audit; "
                            "rerunning the audit repairs it)")
                    break
                msg = getattr(e, "msg", None) or type(e).__name__
                raise AuditReportError(f"{path}:{lineno}: not a JSON record ({msg})") from None
            if not isinstance(rec, dict) or "label" not in rec:
                raise AuditReportError(f"{path}:{lineno}: not an audit record (a JSON object with a 'label' "
                                       "is expected)")
            res.records += 1
            label = str(rec.get("label"))
            res.counts[label] += 1
            score = _score_of(rec)
            if rec.get("model"):
                res.models[str(rec["model"])] += 1
            thr = rec.get("threshold")
            if isinstance(thr, (int, float)) and label != "error":
                res.thresholds[float(thr)] += 1
            notes = rec.get("notes")
            if isinstance(notes, list):
                for n in notes:
                    k = _note_key(n)
                    if k in res.notes or len(res.notes) < 50:
                        res.notes[k] += 1
            prov = rec.get("provenance")
            if isinstance(prov, dict) and isinstance(prov.get("signals"), list) and prov["signals"]:
                res.with_provenance_signals += 1
            if rec.get("branches"):
                res.has_branches = True
            if label == "error":
                res.n_errors += 1
                if len(res.errors) < MAX_ERRORS_LISTED:
                    res.errors.append({"path": rec.get("path"), "error": " ".join(str(rec.get("error")).split()),
                                       "line": lineno})
                continue
            if score is not None:
                h = res.hist.setdefault(label, [0] * HIST_BINS)
                h[min(HIST_BINS - 1, max(0, int(score * HIST_BINS)))] += 1
            # gallery order as a "goodness" key: larger comes first; the heap's smallest is dropped
            key = (-GALLERY_RANK.get(label, 2), score if score is not None else -1.0, -lineno)
            if len(heap) < keep:
                heapq.heappush(heap, (key, _compact(rec, lineno)))
            elif keep and key > heap[0][0]:
                heapq.heapreplace(heap, (key, _compact(rec, lineno)))
    if not res.records:
        raise AuditReportError(f"{path}: no audit records in the file")
    res.top = [item for _, item in sorted(heap, key=lambda t: t[0], reverse=True)]
    return res


def read_summary(jsonl: PathLike) -> tuple[Optional[dict[str, Any]], Optional[Path]]:
    """The audit's summary JSON beside the JSONL (`<stem>.summary.json`, else `summary.json`), if any."""
    from forensics.audit.summary import default_summary_path

    jsonl = Path(jsonl)
    for p in (default_summary_path(jsonl), jsonl.with_name("summary.json")):
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                return data, p
    return None, None


# ------------------------------------------------------------------------------------------- images
def resolve_image(path: Optional[str], bases: list[Path]) -> Optional[Path]:
    """The file a record names: absolute, else relative to the current folder or the JSONL's folder."""
    if not path or "://" in path:
        return None
    p = Path(path)
    if p.is_absolute():
        return p if p.is_file() else None
    for b in bases:
        q = b / p
        if q.is_file():
            return q
    return None


def _thumb(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return rgb


def _jpeg_uri(rgb: np.ndarray, quality: int = THUMB_QUALITY) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def overlay_thumbnail(rgb: np.ndarray, probs: np.ndarray, stride: int, *, side: int = THUMB_SIDE) -> str:
    """The image and its P(fake) map overlaid (inferno, alpha 0.55, as `forensics.overlay.render_overlay`),
    side by side, as a small JPEG data URI."""
    import cv2

    from forensics.overlay import upsample_map

    h, w = rgb.shape[:2]
    heat = upsample_map(np.asarray(probs, np.float32), h, w, stride)
    small = _thumb(rgb, side)
    sh, sw = small.shape[:2]
    heat = cv2.resize(heat, (sw, sh), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.clip(heat * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB)
    blend = (0.45 * small.astype(np.float32) + 0.55 * colour.astype(np.float32)).round().astype(np.uint8)
    gap = np.full((sh, 4, 3), 255, np.uint8)
    return _jpeg_uri(np.concatenate([small, gap, blend], axis=1))


def file_thumbnail(path: Path, *, side: int = 2 * THUMB_SIDE + 4) -> str:
    """A saved overlay figure (e.g. from `scan --heatmap-dir`) as a small JPEG data URI."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return _jpeg_uri(_thumb(rgb, side))


class DetectorCache:
    """Loads the detector for the records' model on first use only (or uses a given one)."""

    def __init__(self, detector: Any = None, model: Optional[str] = None, device: str = "auto",
                 loader: Optional[Callable[[Optional[str]], Any]] = None,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.detector, self.model, self.device, self.loader, self.log = detector, model, device, loader, log
        self.failed: Optional[str] = None
        self.loaded = detector is not None
        self.load_seconds = 0.0

    def get(self, record_model: Optional[str]) -> Any:
        if self.detector is not None or self.failed:
            return self.detector
        import time

        t0 = time.perf_counter()
        try:
            name = self.model or model_for_record(record_model)
            if name is None:
                raise ValueError(f"the records' model {record_model!r} is not a shipped model; pass --model DIR "
                                 "to draw heatmaps")
            if self.loader is not None:
                self.detector = self.loader(name)
            else:
                from forensics.detector import Detector

                self.detector = Detector.load(name, device=self.device)
            self.loaded = True
        except Exception as e:  # noqa: BLE001 - any load failure: the gallery shows images without heatmaps
            self.failed = " ".join(str(e).split())[:300] or type(e).__name__
            if self.log:
                self.log(f"warning: no heatmaps in the report: {self.failed}")
        self.load_seconds = time.perf_counter() - t0
        return self.detector


def model_for_record(model_id: Optional[str]) -> Optional[str]:
    """The shipped model name ('default', 'fast') whose model_id is `model_id` (None if none is)."""
    from forensics.detector import shipped_models

    if not model_id:
        return "default"
    for name, d in shipped_models().items():
        try:
            cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if cfg.get("model_id") == model_id or name == model_id:
            return name
    return None


def gallery_item(item: dict[str, Any], bases: list[Path], detectors: DetectorCache) -> dict[str, Any]:
    """Adds `uri` (image | overlay thumbnail) or `missing` (why there is none) to a kept record."""
    from forensics.decoding import ImageDecodeError, load_image

    out = dict(item)
    out["uri"] = out["missing"] = None
    if out.get("overlay"):
        ov = resolve_image(out["overlay"], bases)
        if ov is not None:
            try:
                out["uri"], out["overlay_from"] = file_thumbnail(ov), "the audit's overlay file"
                return out
            except OSError:
                pass
    src = resolve_image(out.get("path"), bases)
    if src is None:
        out["missing"] = "image file not found (moved or deleted since the audit): shown without image"
        return out
    try:
        size = src.stat().st_size
        if isinstance(out.get("file_size"), int) and size != out["file_size"]:
            out["changed"] = f"the file changed since the audit ({out['file_size']} -> {size} bytes)"
        rgb = load_image(src).rgb
    except (ImageDecodeError, OSError, ValueError) as e:
        out["missing"] = f"image could not be read now: {' '.join(str(e).split())[:200]}"
        return out
    det = detectors.get(out.get("model"))
    if det is None:
        out["uri"] = _jpeg_uri(_thumb(rgb, THUMB_SIDE))
        out["missing"] = f"no heatmap ({detectors.failed})"
        return out
    try:
        cmap = det.cell_map(rgb)
        out["uri"] = overlay_thumbnail(rgb, cmap.probabilities, cmap.stride)
    except Exception as e:  # noqa: BLE001 - one image's failure costs only its heatmap
        out["uri"] = _jpeg_uri(_thumb(rgb, THUMB_SIDE))
        out["missing"] = f"no heatmap: {' '.join(str(e).split())[:200]}"
    return out


# ------------------------------------------------------------------------------------------- page
def histogram_svg(read: AuditRead, thresholds: list[float], *, width: int = 760, height: int = 180) -> str:
    """Stacked bars of P(fake) per verdict (inline SVG, trusted markup: numbers and escaped labels only)."""
    order = [k for k in read.order if k in read.hist]
    totals = [sum(read.hist[k][i] for k in order) for i in range(HIST_BINS)]
    peak = max(totals) if totals and max(totals) else 1
    left, right, top, bottom = 52, 12, 12, 34
    pw, ph = width - left - right, height - top - bottom
    bw = pw / HIST_BINS
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="histogram" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="P(fake) histogram by verdict" '
             'font-family="system-ui, sans-serif" font-size="11">']
    for frac in (0, 0.5, 1):
        y = top + ph - frac * ph
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e6ee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#556">{round(peak * frac)}</text>')
    for i in range(HIST_BINS):
        y = top + ph
        for k in order:
            c = read.hist[k][i]
            if not c:
                continue
            hgt = ph * c / peak
            y -= hgt
            parts.append(f'<rect class="bar" data-label="{_html.escape(k)}" data-count="{c}" x="{left + i * bw + 1:.1f}" '
                         f'y="{y:.1f}" width="{bw - 2:.1f}" height="{hgt:.1f}" fill="{label_colour(k, read.order)}">'
                         f'<title>{_html.escape(k)}: {c} with P(fake) {i / HIST_BINS:.2f}-{(i + 1) / HIST_BINS:.2f}'
                         '</title></rect>')
    for i in range(0, HIST_BINS + 1, 4):
        x = left + i * bw
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle" fill="#556">{i / HIST_BINS:.1f}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 2}" text-anchor="middle" fill="#334">P(fake)</text>')
    for t in thresholds:
        x = left + pw * min(1.0, max(0.0, t))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#1d2330" '
                     f'stroke-dasharray="4 3"><title>threshold {t:.6f}</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file beside `path` (ordinary permissions), fsync, rename: never a torn page (without
    importing torch, as `forensics.checkpoint` would)."""
    from forensics.fileio import write_atomically

    write_atomically(path, data)


def _env():
    from forensics.report import _env as report_env

    return report_env()


def write_audit_report(jsonl: PathLike, out: PathLike, *, top: int = 60, table_rows: int = 300,
                       detector: Any = None, model: Optional[str] = None, device: str = "auto",
                       loader: Optional[Callable[[Optional[str]], Any]] = None, title: Optional[str] = None,
                       command: Optional[str] = None, log: Optional[Callable[[str], None]] = None,
                       progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Write the HTML report of the audit in `jsonl` to `out` (atomically) and return facts about it:
    {"path", "records", "counts", "gallery", "with_image", "detector_loaded", "bytes", "seconds_read",
    "seconds_detector_load", "seconds_gallery" (detector load included), "seconds_total"}.

    `top`: records in the gallery (images read, heatmaps drawn); `table_rows`: records in the table.
    `detector`: one already loaded (else the records' shipped model, or `model`, loads on first need;
    `loader(name)` replaces `Detector.load`). Raises AuditReportError for an unusable JSONL.
    """
    import time

    t0 = time.perf_counter()
    jsonl, out = Path(jsonl), Path(out)
    read = read_audit(jsonl, keep=max(top, table_rows), log=log)
    t_read = time.perf_counter() - t0
    summary, summary_path = read_summary(jsonl)
    bases = [Path.cwd(), jsonl.resolve().parent]
    detectors = DetectorCache(detector, model, device, loader, log)
    gallery = []
    for k, item in enumerate(read.top[:top]):
        gallery.append(gallery_item(item, bases, detectors))
        if progress:
            progress(k + 1, min(top, len(read.top)))
    t_gallery = time.perf_counter() - t0 - t_read
    order = read.order
    thresholds = sorted(read.thresholds)
    colours = {k: label_colour(k, order) for k in order}
    branch_names: list[str] = []
    for it in read.top[:table_rows]:
        for b in it.get("branches") or {}:
            if b not in branch_names:
                branch_names.append(b)
    files = (summary or {}).get("files") or {}
    ignored = (summary or {}).get("ignored") or {}
    stale = None
    if summary and isinstance(summary.get("records"), int) and summary["records"] != read.records:
        stale = (f"the summary counts {summary['records']} records, the JSONL holds {read.records}: it was written "
                 "by another run (rerun the audit to refresh it)")
    html = _env().get_template("audit_report.html.j2").render(
        title=title or f"forensics audit report: {jsonl.name}", source=str(jsonl), when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        command=command, read=read, order=order, colours=colours, total=read.records,
        models=read.models.most_common(), thresholds=thresholds, histogram=histogram_svg(read, thresholds),
        gallery=gallery, top=top, table=read.top[:table_rows], table_rows=table_rows, branch_names=branch_names,
        errors=read.errors, n_errors=read.n_errors, summary=summary, summary_path=str(summary_path) if summary_path else None,
        files=files, ignored=ignored, stale=stale, notes=read.notes.most_common(12),
        detector_note=detectors.failed, n_scored=read.records - read.n_errors)
    data = html.encode("utf-8")
    atomic_write(out, data)
    total = time.perf_counter() - t0
    return {"path": out, "records": read.records, "counts": {k: read.counts[k] for k in order},
            "gallery": len(gallery), "with_image": sum(1 for g in gallery if g["uri"]),
            "detector_loaded": detectors.loaded and detector is None, "bytes": len(data),
            "seconds_read": round(t_read, 3), "seconds_detector_load": round(detectors.load_seconds, 3),
            "seconds_gallery": round(t_gallery, 3), "seconds_total": round(total, 3)}

"""End-of-audit summary: counts per label, score histogram, slowest files, errors; CSV export."""
from __future__ import annotations

import csv
import heapq
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from forensics.fileio import replaced_atomically
from forensics.audit.ledger import iter_records
from forensics.results import LABEL_FAKE, LABEL_REAL, flagged_by_provenance, is_near_miss, looks_rendered

HIST_BINS = 10
MAX_ERRORS_LISTED = 100
N_SLOWEST = 10


@dataclass
class AuditSummary:
    """Result of `forensics.audit.audit`: totals over the whole results file plus this run's work."""

    out: str
    records: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    near_threshold: int = 0   # real verdicts marked "near threshold" (Detector.near_miss_note)
    fake_rendered: int = 0    # fake verdicts on images that look rendered (forensics.graphic_cue)
    fake_by_provenance: int = 0  # fake verdicts because the file declares it was generated
    histogram: dict[str, Any] = field(default_factory=dict)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    n_errors: int = 0
    models: list[str] = field(default_factory=list)
    # kinds of picture a fused detector judged on their own (forensics.pretrained.kinds): {kind: {label: count}}
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    # this run
    engine: str = "local"
    backend: str = "torch"    # forward pass: torch or onnxruntime
    scored: int = 0           # records written by this run (including errors and duplicates)
    skipped: int = 0          # already recorded by an earlier run
    duplicates: int = 0       # copies of content scored earlier (--dedupe)
    seconds: float = 0.0
    images_per_second: float = 0.0
    repaired: Optional[str] = None
    compacted: int = 0
    interrupted: bool = False
    csv: Optional[str] = None
    summary_path: Optional[str] = None
    # this run's account of every file it walked (`files`: walked = scored + unreadable + duplicates +
    # already_recorded + ignored) and the files it passed over by name (`ignored`: counts per type, examples)
    files: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, Any] = field(default_factory=dict)

    @property
    def n_fake(self) -> int:
        return self.counts.get("fake", 0)

    @property
    def n_real(self) -> int:
        return self.counts.get("real", 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format_text(self, max_errors: int = 10) -> str:
        lines = [f"audit: {self.records} records in {self.out}"
                 + "".join(f", {k} {v}" + self._count_note(k) for k, v in sorted(self.counts.items()))]
        lines.append(f"this run: {self.scored} new, {self.skipped} already recorded"
                     + (f", {self.duplicates} duplicates" if self.duplicates else "")
                     + f", {self.seconds:.1f} s, {self.images_per_second:.1f} images/s"
                     + f" ({self.engine} engine, {self.backend})"
                     + (" (interrupted: rerun the same command to resume)" if self.interrupted else ""))
        lines.extend(self._files_lines())
        if self.kinds:
            lines.append("judged as a kind of their own: " + ", ".join(
                f"{kind} {sum(c.values())} (" + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) + ")"
                for kind, c in sorted(self.kinds.items())))
        if self.repaired:
            lines.append(f"repaired: {self.repaired}")
        h = self.histogram
        if h.get("counts") and sum(h["counts"]):
            edges = h["edges"]
            peak = max(h["counts"]) or 1
            lines.append("P(fake) histogram:")
            for i, c in enumerate(h["counts"]):
                lines.append(f"  {edges[i]:.1f}-{edges[i + 1]:.1f} {c:7d} {'#' * max(0, round(30 * c / peak))}")
        if self.slowest:
            lines.append("slowest: " + ", ".join(f"{s['path']} ({s['seconds']:.3f} s)" for s in self.slowest[:3]))
        if self.n_errors:
            lines.append(f"errors: {self.n_errors}")
            for e in self.errors[:max_errors]:
                lines.append(f"  {_one_line(e['path'])}: {e['error']}")
            if self.n_errors > max_errors:
                lines.append(f"  ... {self.n_errors - max_errors} more (see {self.summary_path or self.out})")
        return "\n".join(lines)

    def _files_lines(self) -> list[str]:
        f, ign = self.files, self.ignored
        if not f:
            return []
        parts = [f"{f.get('scored', 0)} scored", f"{f.get('unreadable', 0)} unreadable"]
        if f.get("duplicates"):
            parts.append(f"{f['duplicates']} copies")
        if f.get("already_recorded"):
            parts.append(f"{f['already_recorded']} already recorded")
        parts.append(f"{f.get('ignored', 0)} ignored")
        lines = [f"files walked: {f.get('walked', 0)} ({', '.join(parts)})"]
        if ign.get("count"):
            types = ", ".join(f"{k} {v}" for k, v in ign.get("by_type", {}).items())
            examples = ", ".join(_one_line(e) for e in ign.get("examples", []))
            lines.append(f"ignored: {ign['count']} ({types}): {ign.get('reason')}; e.g. {examples}")
        if ign.get("folders_not_descended"):
            lines.append(f"subfolders not descended (--no-recursive): {ign['folders_not_descended']}")
        return lines

    def _count_note(self, label: str) -> str:
        if label == LABEL_REAL and self.near_threshold:
            return f" ({self.near_threshold} near threshold)"
        if label == LABEL_FAKE and (self.fake_rendered or self.fake_by_provenance):
            parts = ([f"{self.fake_by_provenance} declared generated by the file"] if self.fake_by_provenance else []) + (
                [f"{self.fake_rendered} look rendered, not photographed"] if self.fake_rendered else [])
            return f" ({'; '.join(parts)})"
        return ""


def _one_line(path: Optional[str]) -> str:
    if path is None:
        return "<none>"
    return path.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 for c in path) else path


def summarize(out: Union[str, Path], **run: Any) -> AuditSummary:
    """Stream the results file once and build the summary (memory: top-k + capped error list)."""
    s = AuditSummary(out=str(out), **run)
    counts: dict[str, int] = {}
    hist = [0] * HIST_BINS
    slow: list[tuple[float, str]] = []
    models: set[str] = set()
    for rec in iter_records(out):
        s.records += 1
        label = str(rec.get("label"))
        counts[label] = counts.get(label, 0) + 1
        s.near_threshold += label == LABEL_REAL and is_near_miss(rec.get("notes"))
        s.fake_rendered += label == LABEL_FAKE and looks_rendered(rec.get("notes"))
        s.fake_by_provenance += label == LABEL_FAKE and flagged_by_provenance(rec.get("notes"))
        if rec.get("model"):
            models.add(str(rec["model"]))
        kind = ((rec.get("branches") or {}).get("clip") or {}).get("kind")
        if kind:
            per = s.kinds.setdefault(str(kind), {})
            per[label] = per.get(label, 0) + 1
        score = rec.get("score")
        if isinstance(score, (int, float)) and label != "error":
            hist[min(HIST_BINS - 1, max(0, int(score * HIST_BINS)))] += 1
        sec = rec.get("seconds")
        if isinstance(sec, (int, float)):
            item = (float(sec), str(rec.get("path")))
            if len(slow) < N_SLOWEST:
                heapq.heappush(slow, item)
            elif item > slow[0]:
                heapq.heapreplace(slow, item)
        if label == "error":
            s.n_errors += 1
            if len(s.errors) < MAX_ERRORS_LISTED:
                s.errors.append({"path": rec.get("path"), "error": rec.get("error")})
    s.counts = dict(sorted(counts.items()))
    s.histogram = {"edges": [round(i / HIST_BINS, 2) for i in range(HIST_BINS + 1)], "counts": hist}
    s.slowest = [{"path": p, "seconds": sec} for sec, p in sorted(slow, reverse=True)]
    s.models = sorted(models)
    return s


CSV_FIELDS = ["path", "label", "score", "threshold", "model", "width", "height", "sha256", "error",
              "file_size", "mtime", "seconds", "heatmap_max", "heatmap_fraction_fake_cells",
              "provenance_signals", "notes", "patch_score", "clip_score", "kind"]


def _csv_row(rec: dict[str, Any]) -> list[Any]:
    heat = rec.get("heatmap") or {}
    prov = rec.get("provenance") or {}
    signals = prov.get("signals") if isinstance(prov, dict) else None
    # JSON on one line (newlines inside values escaped), so a spreadsheet or json.loads reads the cell
    sig_txt = json.dumps(signals, ensure_ascii=False, separators=(",", ":")) if isinstance(signals, list) and signals else ""
    row = []
    for f in CSV_FIELDS:
        if f == "heatmap_max":
            row.append(heat.get("max", ""))
        elif f == "heatmap_fraction_fake_cells":
            row.append(heat.get("fraction_fake_cells", ""))
        elif f == "provenance_signals":
            row.append(sig_txt)
        elif f == "notes":
            row.append(" | ".join(rec.get("notes") or []))
        elif f in ("patch_score", "clip_score"):  # a fused detector's branches (empty for a patch model alone)
            branch = (rec.get("branches") or {}).get(f[:-len("_score")]) or {}
            row.append(branch.get("score", ""))
        elif f == "kind":  # the kind of picture a fused detector judged the image as (forensics.pretrained.kinds)
            row.append(((rec.get("branches") or {}).get("clip") or {}).get("kind") or "")
        else:
            v = rec.get(f)
            row.append("" if v is None else v)
    return row


def write_csv(out: Union[str, Path], csv_path: Union[str, Path]) -> int:
    """Write the CSV from the JSONL atomically (temp file + rename): never a torn CSV."""
    n = 0
    with replaced_atomically(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for rec in iter_records(out):
            w.writerow(_csv_row(rec))
            n += 1
    return n


def default_summary_path(out: Union[str, Path]) -> Path:
    """results.jsonl -> results.summary.json"""
    out = Path(out)
    stem = out.name[:-len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(stem + ".summary.json")


def write_summary(summary: AuditSummary, path: Union[str, Path]) -> None:
    from forensics.checkpoint import atomic_write_json

    summary.summary_path = str(path)
    atomic_write_json(Path(path), summary.to_dict())




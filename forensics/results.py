"""`ScanResult`: the one record per image shared by the API, the CLI, audits and reports."""
from __future__ import annotations

import json
import copy
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Optional

LABEL_FAKE = "fake"
LABEL_REAL = "real"
# between a model's "real below" score and its fake threshold: the evidence supports neither verdict
LABEL_UNCERTAIN = "uncertain"
# Start of the note on an image flagged fake because the file itself declares it was generated
# (a strong provenance signal: C2PA generation claim, generator parameters, IPTC trainedAlgorithmicMedia, ...)
PROVENANCE_PREFIX = "provenance:"
LABEL_ERROR = "error"
# Start of the note on a real verdict whose score only the strictest real calibration source keeps under
# the threshold (`Detector.near_miss_note`); `forensics scan` prints "near threshold", audits count them.
NEAR_MISS_PREFIX = "near threshold:"
# Start of the note on a fake or near-threshold verdict for an image that looks rendered (a logo, chart,
# test pattern) rather than photographed (`forensics.graphic_cue`); `forensics scan` prints "looks rendered".
GRAPHIC_PREFIX = "looks rendered:"


def _has_note(notes: Optional[Iterable[Any]], prefix: str) -> bool:
    return any(isinstance(n, str) and n.startswith(prefix) for n in notes or ())


def flagged_by_provenance(notes: Optional[Iterable[Any]]) -> bool:
    """Whether a record was flagged fake on the file's own declaration of generation."""
    return _has_note(notes, PROVENANCE_PREFIX)


def is_near_miss(notes: Optional[Iterable[Any]]) -> bool:
    """Whether a record's notes (ScanResult.notes or a JSON record's list) mark it near threshold."""
    return _has_note(notes, NEAR_MISS_PREFIX)


def looks_rendered(notes: Optional[Iterable[Any]]) -> bool:
    """Whether a record's notes mark its image as looking rendered rather than photographed."""
    return _has_note(notes, GRAPHIC_PREFIX)


@dataclass(frozen=True)
class ScanResult:
    """Verdict for one image. `score` is the calibrated P(fake) in [0, 1] (None on error)."""

    path: Optional[str]
    score: Optional[float]
    label: str
    threshold: float
    model: str
    width: Optional[int] = None
    height: Optional[int] = None
    sha256: Optional[str] = None
    error: Optional[str] = None
    heatmap: Optional[dict[str, Any]] = None
    provenance: Optional[dict[str, Any]] = None
    notes: tuple[str, ...] = ()
    stable: Optional[bool] = None
    file_size: Optional[int] = None
    mtime: Optional[float] = None
    seconds: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)
    # a fused detector's per-branch scores: {"patch": {...}, "clip": {...}} (None for a patch model alone)
    branches: Optional[dict[str, Any]] = None

    @property
    def is_fake(self) -> bool:
        return self.label == LABEL_FAKE

    @property
    def is_error(self) -> bool:
        return self.label == LABEL_ERROR

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that shares nothing mutable with this record (what `asdict` gives, but
        copying JSON-like values directly instead of through `copy.deepcopy`: audits build one per image)."""
        d = {f.name: _detached(getattr(self, f.name)) for f in fields(self)}
        d["notes"] = list(self.notes)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ScanResult":
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["notes"] = tuple(kwargs.get("notes") or ())
        return cls(**kwargs)


_ATOMS = (str, int, float, bool, type(None))


def _detached(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples of scalars); anything else is deep-copied."""
    if isinstance(value, _ATOMS):
        return value
    if type(value) is dict:
        return {k: _detached(v) for k, v in value.items()}
    if type(value) in (list, tuple):  # not namedtuples: those are deep-copied
        return type(value)(_detached(v) for v in value)
    return copy.deepcopy(value)


def error_result(path: Optional[str], reason: str, *, model: str, threshold: float,
                 **kwargs: Any) -> ScanResult:
    """A record for an image that could not be scored; `reason` is one line."""
    reason = " ".join(str(reason).split())
    return ScanResult(path=path, score=None, label=LABEL_ERROR, threshold=threshold, model=model,
                      error=reason, **kwargs)

"""Optional bridge to the provenance inspector, so scanning works without it."""
from __future__ import annotations

from typing import Any, Optional


def provenance_available() -> bool:
    try:
        import forensics.provenance  # noqa: F401
        return True
    except Exception:
        return False


def provenance_for(path: Optional[str], wanted: Optional[bool]) -> Optional[dict[str, Any]]:
    """Provenance findings for a file path (None for arrays, or when turned off / unavailable)."""
    if path is None or wanted is False:
        return None
    try:
        from forensics.provenance import inspect_provenance
    except Exception:
        if wanted:
            return {"error": "provenance inspector unavailable"}
        return None
    try:
        return inspect_provenance(path)
    except Exception as e:  # the inspector must never break a scan
        return {"error": f"provenance inspection failed: {type(e).__name__}"}

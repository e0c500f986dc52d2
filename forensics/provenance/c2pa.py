"""C2PA content credentials through the optional ``c2pa-python`` package.

The reader runs only when the container walker saw a manifest store (PNG ``caBX``, JPEG APP11
JUMBF, WebP ``C2PA``) or the file is ISO-BMFF (HEIC/AVIF), so files without credentials cost
nothing. Verifying the hard binding hashes the whole asset, so the reader reads the full file
(files above ``MAX_C2PA_FILE_BYTES`` are skipped). Remote manifests and OCSP are never fetched.
"""
from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from forensics.provenance._signals import GENERATOR_RE, signal

MAX_C2PA_FILE_BYTES = 256 * 1024 * 1024
INSTALL_HINT = "install forensics[provenance] (c2pa-python) to read content credentials"
_AI_TYPES = {"trainedalgorithmicmedia": "strong", "compositewithtrainedalgorithmicmedia": "strong",
             "algorithmicmedia": "weak", "compositesynthetic": "weak"}
_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


@lru_cache(maxsize=1)
def _module() -> Any | None:
    try:
        return importlib.import_module("c2pa")
    except Exception:  # noqa: BLE001 - missing package or a broken native library
        return None


def available() -> bool:
    """True when c2pa-python imports."""
    return _module() is not None


@lru_cache(maxsize=1)
def _context() -> Any | None:
    mod = _module()
    try:
        return mod.Context.from_dict(_SETTINGS) if mod is not None else None
    except Exception:  # noqa: BLE001 - older c2pa-python without Context
        return None


def read_manifest_store(path: str | Path) -> dict[str, Any] | None:
    """The manifest store as a dict (c2pa's JSON), None when absent; raises on reader errors."""
    mod = _module()
    if mod is None:
        raise RuntimeError(INSTALL_HINT)
    ctx = _context()
    reader = (mod.Reader(str(path), context=ctx) if ctx is not None else mod.Reader(str(path)))
    with reader:
        return json.loads(reader.json())


def _codes(store: dict[str, Any]) -> tuple[set[str], set[str]]:
    res = (store.get("validation_results") or {}).get("activeManifest") or {}
    ok = {e.get("code", "") for e in res.get("success", []) if isinstance(e, dict)}
    bad = {e.get("code", "") for e in res.get("failure", []) if isinstance(e, dict)}
    bad |= {e.get("code", "") for e in store.get("validation_status", []) or [] if isinstance(e, dict)}
    return ok, bad


def summarize(store: dict[str, Any]) -> dict[str, Any]:
    """Claim generator, actions, digital source types and signature state of the active manifest."""
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    gens = [g.get("name", "") for g in manifest.get("claim_generator_info", []) if isinstance(g, dict)]
    if manifest.get("claim_generator"):
        gens.insert(0, str(manifest["claim_generator"]))
    actions: list[dict[str, Any]] = []
    for a in manifest.get("assertions", []):
        if isinstance(a, dict) and str(a.get("label", "")).startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions", []):
                if isinstance(act, dict):
                    agent = act.get("softwareAgent")
                    actions.append({"action": act.get("action"),
                                    "digitalSourceType": act.get("digitalSourceType"),
                                    "softwareAgent": agent.get("name") if isinstance(agent, dict) else agent})
    ok, bad = _codes(store)
    signature_valid = "claimSignature.validated" in ok and not any(
        c.startswith(("claimSignature.mismatch", "assertion.dataHash.mismatch", "assertion.hashedURI.mismatch",
                      "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch")) for c in bad)
    sig = manifest.get("signature_info") or {}
    return {"active_manifest": label, "claim_generator": gens, "title": manifest.get("title"),
            "actions": actions[:20], "signature_valid": signature_valid,
            "trusted": signature_valid and not any("untrusted" in c for c in bad),
            "validation_state": store.get("validation_state"), "failures": sorted(bad)[:20],
            "issuer": sig.get("issuer"), "common_name": sig.get("common_name"),
            "n_manifests": len(store.get("manifests") or {})}


def signals_from(summary: dict[str, Any]) -> list[dict]:
    """A c2pa_manifest signal when the credentials say a generative model made the content."""
    best, term = None, None
    for act in summary["actions"]:
        dst = str(act.get("digitalSourceType") or "").rsplit("/", 1)[-1].lower()
        if dst in _AI_TYPES and (best is None or _AI_TYPES[dst] == "strong"):
            best, term = _AI_TYPES[dst], act.get("digitalSourceType")
    gen_named = any(GENERATOR_RE.search(g or "") for g in summary["claim_generator"])
    if best is None and not gen_named:
        return []
    strength = "strong" if best == "strong" and summary["signature_valid"] else "weak"
    what = term.rsplit("/", 1)[-1] if term else "claim generator " + ", ".join(summary["claim_generator"])
    state = "signature valid" if summary["signature_valid"] else "signature NOT valid"
    if summary["signature_valid"]:
        state += ", trusted signer" if summary["trusted"] else ", signer not on a trust list"
    keep = ("claim_generator", "actions", "signature_valid", "trusted", "validation_state", "issuer")
    return [signal("c2pa_manifest", f"{what} ({state})", strength, **{k: summary[k] for k in keep})]


def inspect_c2pa(path: str | Path, markers: list[str], fmt: str) -> tuple[list[dict], dict | None, str | None]:
    """(signals, summary or None, error or None) for one file."""
    if not markers and fmt != "bmff":
        return [], None, None
    if _module() is None:
        return [], {"present": bool(markers), "markers": markers}, None
    try:
        if Path(path).stat().st_size > MAX_C2PA_FILE_BYTES:
            return [], {"present": bool(markers), "markers": markers}, "file too large to verify"
        store = read_manifest_store(path)
    except Exception as exc:  # noqa: BLE001 - the native reader raises its own error types
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "ManifestNotFound" in msg or "JUMBF" in msg and not markers:
            return [], None, None
        return [], {"present": bool(markers), "markers": markers}, f"c2pa reader: {msg}"
    if not store:
        return [], None, None
    summary = {"present": True, "markers": markers, **summarize(store)}
    return signals_from(summary), summary, None

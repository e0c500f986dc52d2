"""Generation parameters left in text metadata by generation front-ends.

Sources: PNG tEXt/zTXt/iTXt chunks, JPEG COM segments, EXIF UserComment / ImageDescription
(Automatic1111 writes its ``parameters`` there for JPEG/WebP) and ComfyUI's WebP EXIF
``workflow:`` / ``prompt:`` entries. Recognised formats: Automatic1111 / Forge / SD.Next
``parameters`` text, SwarmUI JSON, ComfyUI ``prompt`` / ``workflow`` graphs, NovelAI
``Software`` + ``Comment`` JSON, InvokeAI / Dream keys, Easy Diffusion's separate keys.
"""
from __future__ import annotations

import json
import re
from typing import Any

from forensics.provenance._signals import GENERATOR_RE, clip, signal

_A1111_SETTING_RE = re.compile(r"\s*([\w .()/-]{1,40}):\s*(\"(?:[^\"\\]|\\.)*\"|[^,]*)(?:,|$)")
_A1111_KEYS = ("Sampler:", "CFG scale:", "Seed:", "Model hash:", "Size:")
_INVOKE_KEYS = {"invokeai_metadata", "invokeai_graph", "invokeai_workflow", "sd-metadata", "dream"}
_GEN_KEYS = {"negative_prompt", "seed", "sampler", "sampler_name", "num_inference_steps", "steps",
             "cfg_scale", "guidance_scale", "use_stable_diffusion_model", "scheduler"}
_TEXT_HINT_RE = re.compile(r"negative prompt|\bcfg scale\b|\bsampler\b|\blora\b|\bckpt\b", re.I)


def parse_a1111(text: str) -> dict[str, Any] | None:
    """Split Automatic1111-style parameters into prompt, negative prompt and settings."""
    lines = text.strip().splitlines()
    idx = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Steps: ")), None)
    if idx is None or not any(k in lines[idx] for k in _A1111_KEYS):
        return None
    head = "\n".join(lines[:idx])
    prompt, _, negative = head.partition("Negative prompt:")
    settings = {m.group(1).strip(): m.group(2).strip().strip('"')
                for m in _A1111_SETTING_RE.finditer(lines[idx]) if m.group(1).strip()}
    return {"prompt": clip(prompt), "negative_prompt": clip(negative),
            "settings": dict(list(settings.items())[:25])}


def _json(text: str) -> Any:
    text = text.strip()
    if not text[:1] in ("{", "["):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _comfy(key: str, data: Any) -> dict[str, Any] | None:
    """ComfyUI API graph ({id: {class_type, inputs}}) or UI workflow ({nodes: [...]})."""
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        types = [n.get("type") for n in data["nodes"] if isinstance(n, dict)]
    elif isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()) \
            and any("class_type" in v for v in data.values()):
        types = [v.get("class_type") for v in data.values()]
    else:
        return None
    names = sorted({str(t) for t in types if t})
    ckpts = sorted({str(v.get("inputs", {}).get("ckpt_name")) for v in data.values()
                    if isinstance(v, dict) and isinstance(v.get("inputs"), dict)
                    and v["inputs"].get("ckpt_name")}) if "nodes" not in data else []
    return {"graph": key, "node_types": names[:30], "n_nodes": len(types), "checkpoints": ckpts[:5]}


def _one(source: str, key: str, value: str) -> dict | None:
    """Signal for one text item, or None."""
    lkey = key.lower()
    where = {"source": source, "key": key}
    parsed = parse_a1111(value)
    if parsed:
        return signal("png_parameters", clip(value, 160), "strong", generator="Automatic1111-style",
                      **where, **parsed)
    data = _json(value)
    if lkey in ("prompt", "workflow") and data is not None:
        comfy = _comfy(lkey, data)
        if comfy:
            return signal("comfyui_workflow", f"ComfyUI {lkey} graph ({comfy['n_nodes']} nodes)",
                          "strong", **where, **comfy)
    if lkey in _INVOKE_KEYS:
        return signal("invokeai_metadata", clip(value, 160), "strong", **where)
    if isinstance(data, dict):
        if "sui_image_params" in data:
            return signal("png_parameters", clip(value, 160), "strong", generator="SwarmUI", **where)
        keys = {str(k).lower() for k in data}
        if ("prompt" in keys or "uc" in keys) and len(keys & _GEN_KEYS) >= 2:
            gen = "NovelAI" if "uc" in keys else "JSON generation parameters"
            return signal("novelai_metadata" if gen == "NovelAI" else "png_parameters",
                          clip(value, 160), "strong", generator=gen, **where,
                          settings={k: clip(str(v), 80) for k, v in list(data.items())[:20]
                                    if str(k).lower() in _GEN_KEYS})
    if lkey in ("software", "source", "title", "comment", "description", "author") \
            and GENERATOR_RE.search(value):
        return signal("png_software" if source == "png" else "generator_text", clip(value, 160),
                      "weak", matched=GENERATOR_RE.search(value).group(0), **where)
    if _TEXT_HINT_RE.search(value) and GENERATOR_RE.search(value):
        return signal("generator_text", clip(value, 160), "weak", **where)
    return None


def text_items(png_text: list[tuple[str, str, str]], comments: list[str],
               exif: dict[str, str]) -> list[tuple[str, str, str]]:
    """(source, key, value) triples from every text-bearing metadata field."""
    items = [("png", k, v) for k, v, _ in png_text]
    items += [("jpeg-comment", "comment", c) for c in comments]
    for tag in ("UserComment", "ImageDescription", "XPComment"):
        if exif.get(tag):
            items.append(("exif", tag, exif[tag]))
    for tag in ("Make", "Model"):  # ComfyUI's WebP writer: Make="workflow:{...}", Model="prompt:{...}"
        value = exif.get(tag, "")
        for prefix in ("workflow:", "prompt:"):
            if value.startswith(prefix):
                items.append(("exif", prefix[:-1], value[len(prefix):]))
    return items


def inspect_text(items: list[tuple[str, str, str]]) -> list[dict]:
    """Generation-parameter signals, plus Easy Diffusion-style separate generation keys."""
    sigs = [s for s in (_one(*it) for it in items[:200]) if s]
    png_keys = {k.lower() for src, k, _ in items if src == "png"}
    if not sigs and "prompt" in png_keys and len(png_keys & _GEN_KEYS) >= 2:
        sigs.append(signal("png_parameters", "generation settings in separate text chunks", "strong",
                           source="png", keys=sorted(png_keys & (_GEN_KEYS | {"prompt"}))))
    # NovelAI writes Software="NovelAI" beside a Comment JSON: upgrade the pair to one strong signal.
    kinds = {s["kind"] for s in sigs}
    if "novelai_metadata" in kinds:
        sigs = [s for s in sigs if not (s["kind"] == "png_software" and "novel" in s["value"].lower())]
    return sigs

"""The signal record shared by every provenance module, and the list of generator names."""
from __future__ import annotations

import re
from typing import Any

STRENGTHS = ("strong", "weak")

#: Names of image generators and generation front-ends as they appear in software fields.
GENERATOR_RE = re.compile(
    r"stable[ _-]?diffusion|automatic1111|sd[ _-]?webui|stable-diffusion-webui|comfy ?ui|invoke ?ai|"
    r"novel ?ai|midjourney|dall[ ·-]?e|openai|chatgpt|gpt-?4o|\bimagen\b|gemini|firefly|"
    r"leonardo\.?ai|ideogram|flux\.1|dreamstudio|nightcafe|craiyon|fooocus|swarm ?ui|diffusers|"
    r"image creator|generative fill|generative expand|\bsdxl\b|stability\.?ai|runway ?ml|"
    r"playground ?ai|krea\.?ai|easy ?diffusion|sd\.next|draw ?things|diffusionbee",
    re.I,
)


def signal(kind: str, value: str, strength: str, **detail: Any) -> dict[str, Any]:
    """One JSON-serialisable provenance finding."""
    assert strength in STRENGTHS, strength
    return {"kind": kind, "value": str(value), "strength": strength, "detail": detail}


def clip(text: str, n: int = 300) -> str:
    """Shorten long free text (prompts, workflows) for display."""
    text = text.strip()
    return text if len(text) <= n else text[: n - 1] + "…"

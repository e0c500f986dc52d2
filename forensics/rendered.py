"""Procedurally rendered graphics (gradients, colour wheels, flat shapes, text, patterns, layouts).

Not photographs, and made by no generative model: what a moderation queue also holds (logos, banners,
test patterns, slides). A training recipe can add them to the real class, so that a detector learns
that noise-free flat colour and smooth gradients are not by themselves evidence of generation. Every
image is a pure function of its seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS = ("linear_gradient", "radial_gradient", "hue_wheel", "shapes", "text", "pattern", "layout")
SUPERSAMPLE = 3  # shapes and text are drawn this much larger, then reduced: anti-aliased edges


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _ramp(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A 0..1 ramp across the image at a random angle."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = np.cos(angle) * xx / max(w - 1, 1) + np.sin(angle) * yy / max(h - 1, 1)
    return (t - t.min()) / max(t.max() - t.min(), 1e-9)


def _blend(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colours at 2-4 stops, interpolated linearly along `t` (0..1): a multi-stop gradient."""
    stops = np.sort(np.r_[0.0, rng.uniform(0, 1, int(rng.integers(0, 3))), 1.0])
    colours = np.array([_colour(rng) for _ in stops], dtype=np.float64)
    out = np.stack([np.interp(t, stops, colours[:, c]) for c in range(3)], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def linear_gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    return _blend(_ramp(h, w, rng), rng)


def radial_gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot(yy - cy, xx - cx)
    return _blend(r / max(r.max(), 1e-9), rng)


def hue_wheel(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Hue by angle around a centre, saturation by radius (or constant), on a flat background."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h / 2 + rng.uniform(-0.1, 0.1) * h, w / 2 + rng.uniform(-0.1, 0.1) * w
    radius = rng.uniform(0.3, 0.6) * min(h, w)
    hue = (np.arctan2(yy - cy, xx - cx) / (2 * np.pi) + rng.uniform(0, 1)) % 1.0
    r = np.hypot(yy - cy, xx - cx) / radius
    sat = np.clip(r, 0, 1) if rng.random() < 0.5 else np.full_like(r, rng.uniform(0.5, 1))
    val = np.full_like(r, rng.uniform(0.7, 1))
    rgb = _hsv_to_rgb(hue, sat, val)
    background = np.array(_colour(rng) if rng.random() < 0.5 else (255, 255, 255), dtype=np.uint8)
    rgb[r > 1] = background
    return rgb


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(h.shape + (3,))
    for k, (r, g, b) in enumerate(table):
        m = i == k
        out[m] = np.stack([r[m], g[m], b[m]], axis=-1)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _canvas(h: int, w: int, rng: np.random.Generator, background: np.ndarray | None = None) -> Image.Image:
    """A supersampled drawing surface: flat colour, white, or the given background enlarged."""
    size = (w * SUPERSAMPLE, h * SUPERSAMPLE)
    if background is not None:
        return Image.fromarray(background).resize(size, Image.Resampling.NEAREST)
    fill = (255, 255, 255) if rng.random() < 0.4 else _colour(rng)
    return Image.new("RGB", size, fill)


def _finish(img: Image.Image, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Back to (h, w): anti-aliased (box filter) most of the time, hard-edged (nearest) otherwise."""
    resample = Image.Resampling.NEAREST if rng.random() < 0.25 else Image.Resampling.BOX
    return np.asarray(img.resize((w, h), resample), dtype=np.uint8).copy()


def _draw_shapes(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, n: int) -> None:
    for _ in range(n):
        x0, x1 = sorted(rng.uniform(-0.1, 1.1, 2) * w)
        y0, y1 = sorted(rng.uniform(-0.1, 1.1, 2) * h)
        fill = _colour(rng)
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif kind == 2:
            pts = [tuple(p) for p in (rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * (w, h))]
            draw.polygon(pts, fill=fill)
        else:
            draw.line((x0, y0, x1, y1), fill=fill, width=int(rng.integers(1, 6)) * SUPERSAMPLE)


def _draw_text(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, lines: int) -> None:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:%$&!?"
    for _ in range(lines):
        size = int(rng.uniform(0.04, 0.2) * h)
        font = ImageFont.load_default(size=max(size, 8))
        text = "".join(rng.choice(list(letters), int(rng.integers(3, 24))))
        draw.text((rng.uniform(-0.05, 0.8) * w, rng.uniform(-0.05, 0.9) * h), text, fill=_colour(rng), font=font)


def shapes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    img = _canvas(h, w, rng)
    _draw_shapes(ImageDraw.Draw(img), *img.size, rng, int(rng.integers(1, 12)))
    return _finish(img, h, w, rng)


def text(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    img = _canvas(h, w, rng)
    _draw_text(ImageDraw.Draw(img), *img.size, rng, int(rng.integers(1, 10)))
    return _finish(img, h, w, rng)


def pattern(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A checkerboard, stripes or a grid of two or three flat colours, at a random cell size."""
    cell = int(rng.integers(2, max(3, min(h, w) // 3)))
    yy, xx = np.mgrid[0:h, 0:w]
    kind = rng.integers(0, 3)
    if kind == 0:
        index = (yy // cell + xx // cell) % 2
    elif kind == 1:
        index = ((xx if rng.random() < 0.5 else yy) // cell) % int(rng.integers(2, 4))
    else:
        index = ((yy % cell) < max(1, cell // 6)) | ((xx % cell) < max(1, cell // 6))
    palette = np.array([_colour(rng) for _ in range(3)], dtype=np.uint8)
    if rng.random() < 0.5:
        palette[:2] = ((0, 0, 0), (255, 255, 255))
    return palette[index.astype(int)]


def layout(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A banner or slide: a flat or gradient background, shapes, then text."""
    background = linear_gradient(h, w, rng) if rng.random() < 0.5 else None
    img = _canvas(h, w, rng, background)
    draw = ImageDraw.Draw(img)
    _draw_shapes(draw, *img.size, rng, int(rng.integers(0, 5)))
    _draw_text(draw, *img.size, rng, int(rng.integers(1, 5)))
    return _finish(img, h, w, rng)


RENDERERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "linear_gradient": linear_gradient, "radial_gradient": radial_gradient, "hue_wheel": hue_wheel,
    "shapes": shapes, "text": text, "pattern": pattern, "layout": layout}


def render_graphic(seed: int, *, min_side: int = 96, max_side: int = 512) -> tuple[str, np.ndarray]:
    """One rendered graphic (kind, HxWx3 uint8 RGB) of random kind and size, fixed by `seed`."""
    rng = np.random.default_rng([seed, 0x6752])
    kind = KINDS[int(rng.integers(0, len(KINDS)))]
    h, w = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
    return kind, RENDERERS[kind](h, w, rng)


def write_graphics(out: Path, n: int, *, first_seed: int = 0) -> list[Path]:
    """Render seeds first_seed .. first_seed + n - 1 to `out` as PNG (skipping files already there)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first_seed, first_seed + n):
        path = out / f"graphic_{seed:05d}.png"
        if not path.is_file():
            kind, rgb = render_graphic(seed)
            tmp = path.with_name(path.name + ".tmp")  # not *.png: an interrupted write is no training image
            Image.fromarray(rgb).save(tmp, format="PNG")
            tmp.replace(path)
        paths.append(path)
    return paths

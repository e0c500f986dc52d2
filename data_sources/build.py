"""Rebuild the extra real/fake image sets listed in data_sources/origins.json.

    python data_sources/build.py                      # writes /work/data/extra
    python data_sources/build.py --out DIR --mirrors DIR --only NAME[,NAME]

Every source is pinned: a GitHub repository at a full commit (read from a bare git mirror,
MIRRORS/owner+name/repo or MIRRORS/owner+name; cloned with `git clone --bare` when absent) or a
Debian package at a version (`apt-get download`). Files are copied byte for byte, except grid
images, which are cut into tiles from the decoded pixels and written as PNG (lossless); irregular
collages list crop boxes per file instead ("split": {"boxes": {PATH: [[x0, y0, x1, y1], ...]}}), and
"trim": {"bottom": N, ...} cuts N pixel rows or columns off every image of a source (a generator's
visible watermark), written as PNG from the decoded pixels.
Undecodable, tiny (short side < --min-side) and near-duplicate images (64-bit difference hash
within --dup-bits bits of an image already kept, across all sources) are skipped.

Layout: OUT/real/<source>/<file>, OUT/fake/<family>/<source>/<file>, and OUT/manifest.jsonl with
one line per written file (path, label, family, source, origin, tile, sha256, width, height, dhash).
The run is deterministic: sources, files and tiles are visited in a fixed order, and a file that
already holds the same bytes is left as it is. Files under OUT/real and OUT/fake that the run did
not write are removed, so OUT always matches origins.json. A partial run (--only) writes only its
sources and checks them against the files a full run wrote for the sources listed before them
(OUT/manifest.jsonl), so it keeps what a full run would keep.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = 200_000_000
HERE = Path(__file__).resolve().parent
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- git origins
def find_mirror(mirrors: Path, repo: str, clone: bool) -> Path | None:
    """The bare git dir for owner/name under `mirrors`, cloning it there when absent."""
    base = mirrors / repo.replace("/", "+")
    for cand in (base / "repo", base, base / "repo" / ".git"):  # a bare mirror, or a clone's git dir
        if (cand / "objects").is_dir() or (cand / "HEAD").is_file():
            return cand
    if not clone:
        return None
    target = base / "repo"
    target.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["git", "clone", "--quiet", "--bare", f"https://github.com/{repo}", str(target)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        return None
    return target


def has_commit(gitdir: Path, commit: str) -> bool:
    return subprocess.run(["git", "--git-dir", str(gitdir), "cat-file", "-e", f"{commit}^{{commit}}"],
                          capture_output=True).returncode == 0


def ls_tree(gitdir: Path, commit: str) -> list[tuple[str, str]]:
    """(path, blob sha) for every file at `commit`, sorted by path."""
    out = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "-z", commit],
                         capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
    rows = []
    for rec in out.split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        _mode, typ, sha = meta.split()
        if typ == "blob":
            rows.append((path, sha))
    return sorted(rows)


class BlobReader:
    """Reads blobs through one `git cat-file --batch` process."""

    def __init__(self, gitdir: Path):
        self.p = subprocess.Popen(["git", "--git-dir", str(gitdir), "cat-file", "--batch"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, sha: str) -> bytes | None:
        self.p.stdin.write(sha.encode() + b"\n")
        self.p.stdin.flush()
        header = self.p.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            return None  # missing (mirrors leave out files of 4 MiB and more)
        size = int(header[2])
        data = self.p.stdout.read(size)
        self.p.stdout.read(1)
        return data

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def select(paths: list[str], include: list[str], exclude: list[str]) -> list[str]:
    """Paths matching any include glob (fnmatch, case-sensitive; `*` also crosses `/`) and no exclude."""
    keep = []
    for p in paths:
        if any(fnmatch.fnmatchcase(p, g) for g in include) and not any(fnmatch.fnmatchcase(p, g) for g in exclude):
            keep.append(p)
    return keep


# ---------------------------------------------------------------- debian origins
def fetch_deb(package: str, version: str, workdir: Path) -> tuple[Path, str] | None:
    """Download and unpack `package` (at `version` when apt has it); (root, version) or None."""
    workdir.mkdir(parents=True, exist_ok=True)
    for spec in (f"{package}={version}", package):
        r = subprocess.run(["apt-get", "download", spec], cwd=workdir, capture_output=True, text=True)
        debs = sorted(workdir.glob(f"{package}_*.deb"))
        if r.returncode == 0 and debs:
            deb = debs[0]
            got = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True).stdout.strip()
            if got != version:
                log(f"  note: {package}: apt gave version {got}, origins.json pins {version}")
            root = workdir / "root"
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            return root, got
    return None


# ---------------------------------------------------------------- image handling
def dhash(im: Image.Image) -> int:
    """64-bit difference hash of the luminance."""
    g = im.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    a = np.asarray(g, dtype=np.int16)
    bits = (a[:, 1:] > a[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


class DupIndex:
    """dHash candidates within `max_bits`, confirmed by a 16x16 grey thumbnail (mean abs diff <= max_mad)."""

    def __init__(self, max_bits: int, max_mad: float = 6.0):
        self.max_bits = max_bits
        self.max_mad = max_mad
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.thumbs: list[np.ndarray | Callable[[], np.ndarray | None]] = []  # a callable is read when first needed
        self.names: list[str] = []

    def find(self, h: int, thumb: np.ndarray) -> str | None:
        if self.max_bits < 0 or not len(self.hashes):
            return None
        x = np.bitwise_xor(self.hashes, np.uint64(h))
        bits = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for i in np.flatnonzero(bits <= self.max_bits):
            if callable(self.thumbs[i]):
                self.thumbs[i] = self.thumbs[i]()
            if self.thumbs[i] is not None and float(np.abs(self.thumbs[i] - thumb).mean()) <= self.max_mad:
                return self.names[i]
        return None

    def add(self, h: int, thumb: np.ndarray | Callable[[], np.ndarray | None], name: str) -> None:
        self.hashes = np.append(self.hashes, np.uint64(h))
        self.thumbs.append(thumb)
        self.names.append(name)


def thumb16(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("L").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32)


def written_thumb(path: Path) -> np.ndarray | None:
    """thumb16 of a file a run wrote (None if it no longer decodes)."""
    im = open_image(path.read_bytes())
    return None if im is None else thumb16(im)


def open_image(data: bytes) -> Image.Image | None:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return im
    except Exception:
        return None


def grid_tiles(im: Image.Image, tile: int, pad: int = 0) -> list[Image.Image] | None:
    """Cut a grid of `tile` px squares (with `pad` px gutters) in row-major order; None if not a grid."""
    w, h = im.size
    if (w - pad) % (tile + pad) or (h - pad) % (tile + pad):
        return None
    nx, ny = (w - pad) // (tile + pad), (h - pad) // (tile + pad)
    if nx * ny <= 1:
        return None
    rgb = im.convert("RGB")
    out = []
    for j in range(ny):
        for i in range(nx):
            x, y = pad + i * (tile + pad), pad + j * (tile + pad)
            out.append(rgb.crop((x, y, x + tile, y + tile)))
    return out


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def safe_name(path: str) -> str:
    name = path.replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


# ---------------------------------------------------------------- main loop
class Builder:
    def __init__(self, out: Path, min_side: int, dup_bits: int):
        self.out = out
        self.min_side = min_side
        self.dups = {"real": DupIndex(dup_bits), "fake": DupIndex(dup_bits)}  # within a label only
        self.records: list[dict] = []
        self.written: set[Path] = set()
        self.skipped: list[str] = []  # reason, origin, tile, kept match

    def dest_dir(self, src: dict) -> Path:
        if src["label"] == "real":
            return self.out / "real" / src["name"]
        return self.out / "fake" / src["family"] / src["name"]

    def write(self, dest: Path, data: bytes) -> None:
        if not (dest.is_file() and dest.read_bytes() == data):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        self.written.add(dest)

    def keep(self, src: dict, origin: str, rel_name: str, data: bytes, im: Image.Image, tile: int | None,
             stats: dict) -> None:
        w, h = im.size
        if min(w, h) < self.min_side:
            stats["tiny"] += 1
            self.skipped.append(f"tiny {w}x{h}\t{origin}\t{tile}\t")
            return
        hsh, th = dhash(im), thumb16(im)
        dup = self.dups[src["label"]].find(hsh, th)
        if dup is not None:
            stats["dup"] += 1
            self.skipped.append(f"near-duplicate\t{origin}\t{tile}\t{dup}")
            return
        dest = self.dest_dir(src) / rel_name
        rel = dest.relative_to(self.out).as_posix()
        self.dups[src["label"]].add(hsh, th, rel)
        self.write(dest, data)
        self.records.append({"path": rel, "label": src["label"], "family": src["family"], "source": src["name"],
                             "origin": origin, "tile": tile, "sha256": hashlib.sha256(data).hexdigest(),
                             "width": w, "height": h, "dhash": f"{hsh:016x}"})
        stats["kept"] += 1

    def add_file(self, src: dict, origin: str, path: str, data: bytes, stats: dict) -> None:
        if data.startswith(b"version https://git-lfs"):
            stats["missing"] += 1
            return
        im = open_image(data)
        if im is None:
            stats["bad"] += 1
            return
        trim = src.get("trim")
        if trim:
            # a visible watermark (e.g. DALL-E 2's colour bar) would be a label cue: cut its margin off
            left, top = int(trim.get("left", 0)), int(trim.get("top", 0))
            right, bottom = im.width - int(trim.get("right", 0)), im.height - int(trim.get("bottom", 0))
            if right - left < self.min_side or bottom - top < self.min_side:
                stats["tiny"] += 1
                return
            im = im.convert("RGB").crop((left, top, right, bottom))
            data = png_bytes(im)
            path = path.rsplit(".", 1)[0] + ".png"
        split = src.get("split")
        boxes = (split or {}).get("boxes", {}).get(path)
        if boxes:
            # irregular collages: crop the listed [x0, y0, x1, y1] boxes (pixels), written as PNG
            rgb = im.convert("RGB")
            stem = safe_name(path.rsplit(".", 1)[0])
            for k, box in enumerate(boxes):
                x0, y0, x1, y1 = (int(v) for v in box)
                if not (0 <= x0 < x1 <= im.width and 0 <= y0 < y1 <= im.height):
                    stats["bad"] += 1
                    continue
                t = rgb.crop((x0, y0, x1, y1))
                self.keep(src, origin, f"{stem}_b{k:02d}.png", png_bytes(t), t, k, stats)
            return
        if split and "tile" in split:
            tiles = grid_tiles(im, int(split["tile"]), int(split.get("pad", 0)))
            if tiles is not None:
                stem = safe_name(path.rsplit(".", 1)[0])
                for k, t in enumerate(tiles):
                    self.keep(src, origin, f"{stem}_t{k:02d}.png", png_bytes(t), t, k, stats)
                return
            if split.get("only_grids"):
                stats["not_grid"] += 1
                return
        self.keep(src, origin, safe_name(path), data, im, None, stats)

    def index_written(self, records: list[dict]) -> int:
        """Put images an earlier full run wrote (manifest records) into the near-duplicate index, so that a
        partial run skips what a full run would skip. A record's stored hash is used as it is and its file is
        read only if a new image comes near it (records of older manifests, without one, are decoded now).
        Returns how many were indexed (absent files are not)."""
        n = 0
        for r in records:
            path = self.out / r["path"]
            if not path.is_file():
                continue
            if "dhash" in r:
                self.dups[r["label"]].add(int(r["dhash"], 16), lambda path=path: written_thumb(path), r["path"])
                n += 1
                continue
            im = open_image(path.read_bytes())
            if im is not None:
                self.dups[r["label"]].add(dhash(im), thumb16(im), r["path"])
                n += 1
        return n

    def run_git(self, src: dict, mirrors: Path, clone: bool) -> None:
        gitdir = find_mirror(mirrors, src["repo"], clone)
        if gitdir is None:
            log(f"skip {src['name']}: no mirror of {src['repo']} under {mirrors} and git clone failed")
            return
        if not has_commit(gitdir, src["commit"]):
            log(f"skip {src['name']}: {src['repo']} mirror lacks commit {src['commit']}")
            return
        tree = dict(ls_tree(gitdir, src["commit"]))
        paths = select(sorted(tree), src["paths"], src.get("exclude", []))
        paths = [p for p in paths if p.lower().endswith(IMAGE_EXT)]
        stats = {"kept": 0, "tiny": 0, "dup": 0, "bad": 0, "missing": 0, "not_grid": 0}
        reader = BlobReader(gitdir)
        try:
            for p in paths:
                data = reader.read(tree[p])
                if data is None:
                    stats["missing"] += 1
                    continue
                self.add_file(src, f"{src['repo']}@{src['commit']}:{p}", p, data, stats)
        finally:
            reader.close()
        self.report(src, len(paths), stats)

    def run_deb(self, src: dict, tmp: Path) -> None:
        got = fetch_deb(src["package"], src["version"], tmp / src["package"])
        if got is None:
            log(f"skip {src['name']}: apt-get download {src['package']} failed")
            return
        root, version = got
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        paths = select(files, src["paths"], src.get("exclude", []))
        stats = {"kept": 0, "tiny": 0, "dup": 0, "bad": 0, "missing": 0, "not_grid": 0}
        for p in paths:
            data = (root / p).read_bytes()
            self.add_file(src, f"debian:{src['package']}={version}:{p}", p, data, stats)
        self.report(src, len(paths), stats)

    def report(self, src: dict, n: int, stats: dict) -> None:
        extra = ", ".join(f"{k} {v}" for k, v in stats.items() if k != "kept" and v)
        log(f"{src['label']:4s} {src['family']:10s} {src['name']:28s} {n:5d} matched -> {stats['kept']:5d} written"
            + (f" ({extra})" if extra else ""))

    def finish(self, clean: bool) -> None:
        # a partial run (--only) writes its own manifest and leaves the full one and other files alone
        man = self.out / ("manifest.jsonl" if clean else "manifest.only.jsonl")
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
        self.write(man, text.encode())
        self.write(man.with_name(man.stem.replace("manifest", "skipped") + ".tsv"),
                   "".join(s + "\n" for s in ["reason\torigin\ttile\tkept_match"] + self.skipped).encode())
        if clean:
            for top in ("real", "fake"):
                for p in sorted((self.out / top).rglob("*")) if (self.out / top).is_dir() else []:
                    if p.is_file() and p not in self.written:
                        p.unlink()
        counts: dict[tuple[str, str], int] = {}
        for r in self.records:
            counts[(r["label"], r["family"])] = counts.get((r["label"], r["family"]), 0) + 1
        log("totals: " + ", ".join(f"{l}/{f} {n}" for (l, f), n in sorted(counts.items())))
        log(f"{len(self.records)} files, manifest {man}")


def earlier_records(sources: list[dict], only: set[str], manifest: Path) -> dict[str, list[dict]]:
    """Manifest records of the unselected sources listed before the last selected one: a full run checks every
    image against those for near-duplicates, so a partial run (--only) must too. Empty (with a warning) when no
    full run's manifest is there."""
    names = [s["name"] for s in sources]
    last = max(i for i, n in enumerate(names) if n in only)
    before = {n for n in names[:last] if n not in only}
    if not before:
        return {}
    if not manifest.is_file():
        log(f"warning: no {manifest}: the selected sources are not checked for near-duplicates of the sources "
            "listed before them (run the full build once)")
        return {}
    out: dict[str, list[dict]] = {}
    for line in manifest.read_text().splitlines():
        r = json.loads(line)
        if r["source"] in before:
            out.setdefault(r["source"], []).append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--origins", type=Path, default=HERE / "origins.json")
    ap.add_argument("--out", type=Path, default=Path("/work/data/extra"))
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--only", default="", help="comma list of source names (default: all)")
    ap.add_argument("--no-clone", action="store_true", help="never git clone a missing mirror")
    ap.add_argument("--no-debian", action="store_true", help="skip the Debian-package sources")
    ap.add_argument("--min-side", type=int, default=128)
    ap.add_argument("--dup-bits", type=int, default=4,
                    help="near-duplicate threshold: dHash Hamming distance (-1 keeps duplicates)")
    args = ap.parse_args()

    repo_root = HERE.parent.resolve()
    out = args.out.resolve()
    if out == repo_root or repo_root in out.parents:
        sys.exit(f"error: --out {out} is inside the repository; images must stay outside it")
    origins = json.loads(args.origins.read_text())
    only = {s for s in args.only.split(",") if s}
    unknown = only - {s["name"] for s in origins["sources"]}
    if unknown:
        sys.exit(f"error: unknown source(s): {', '.join(sorted(unknown))}")

    b = Builder(out, args.min_side, args.dup_bits)
    earlier = earlier_records(origins["sources"], only, out / "manifest.jsonl") if only else {}
    with tempfile.TemporaryDirectory(prefix="data_sources_") as tmp:
        for src in origins["sources"]:
            if only and src["name"] not in only:
                if src["name"] in earlier:
                    b.index_written(earlier[src["name"]])
                continue
            if "repo" in src:
                b.run_git(src, args.mirrors, not args.no_clone)
            elif "package" in src:
                if args.no_debian:
                    log(f"skip {src['name']}: --no-debian")
                    continue
                b.run_deb(src, Path(tmp))
    b.finish(clean=not only)


if __name__ == "__main__":
    main()

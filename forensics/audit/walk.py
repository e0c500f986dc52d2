"""Streaming file discovery: sorted per directory, one directory listing in memory at a time."""
from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Sequence

from forensics.decoding import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Candidate:
    """One file to audit, with the size/mtime seen when it was listed (the resume key)."""

    path: str
    size: Optional[int] = None
    mtime: Optional[float] = None
    error: Optional[str] = None  # set when the entry cannot be used (stat failed, loop, ...)


def stat_error_reason(path: str, exc: OSError) -> str:
    """One-line reason for a failed stat, worded like `forensics.decoding`."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "broken symbolic link" if os.path.islink(path) else "file not found"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return f"cannot stat file: {exc.strerror or exc}"


def stat_candidate(path: str) -> Candidate:
    try:
        st = os.stat(path)
    except OSError as e:
        return Candidate(path, error=stat_error_reason(path, e))
    if stat.S_ISDIR(st.st_mode):
        return Candidate(path, error="is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        return Candidate(path, st.st_size, st.st_mtime, error="not a regular file")
    return Candidate(path, st.st_size, st.st_mtime)


IGNORED_EXAMPLES = 5


@dataclass
class Ignored:
    """Files a walk passed over because of their name (not an image extension, or no `--include` match),
    and folders it did not descend (`--no-recursive`): counts per type plus a few examples, so an audit
    accounts for every file it walked."""

    reason: str = "not an image file name (known image extensions only; --include to widen)"
    count: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    folders_not_descended: int = 0

    def add(self, path: str, name: str) -> None:
        ext = os.path.splitext(name)[1].lower()
        kind = ext if ext and len(ext) <= 12 and ext[1:].isalnum() else "(no extension)"
        self.count += 1
        self.by_type[kind] = self.by_type.get(kind, 0) + 1
        if len(self.examples) < IGNORED_EXAMPLES:
            self.examples.append(path)

    def to_dict(self) -> dict:
        return {"count": self.count, "reason": self.reason,
                "by_type": dict(sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
                "examples": list(self.examples), "folders_not_descended": self.folders_not_descended}


class FileFilter:
    """Which names are audited: image extensions by default, or any `--include` glob."""

    def __init__(self, include: Sequence[str] = (), extensions: Iterable[str] = IMAGE_EXTENSIONS) -> None:
        self.include = tuple(include)
        self.extensions = tuple(e.lower() for e in extensions)

    def __call__(self, name: str, relpath: str) -> bool:
        if self.include:
            return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(relpath, g) for g in self.include)
        return name.lower().endswith(self.extensions)


def iter_candidates(roots: Sequence[str], *, recursive: bool = True, include: Sequence[str] = (),
                    exclude_paths: Iterable[str] = (), ignored: Optional[Ignored] = None) -> Iterator[Candidate]:
    """Files under `roots` (directories or files), streamed in sorted order per directory.

    Only one directory's entries are held at a time (plus the stack of pending sibling
    directories), so huge trees do not need a full listing in memory. Symbolic links to
    directories are followed once; a link that leads back into a directory being walked is
    reported as an error candidate ("symbolic link loop") instead of recursing forever.
    Files passed over by name, and folders not descended, are counted in `ignored` when given
    (the audit's own output files are neither audited nor counted).
    """
    filt = FileFilter(include)
    if ignored is not None and include:
        ignored.reason = "not matching --include " + " ".join(include)
    excluded: set[tuple[int, int]] = set()
    for p in exclude_paths:
        try:
            est = os.stat(p)
            excluded.add((est.st_dev, est.st_ino))
        except OSError:
            pass
    excluded_names = {os.path.basename(os.fspath(p)) for p in exclude_paths}
    for root in _without_nested(roots, recursive):
        try:
            st = os.stat(root)
        except OSError as e:
            yield Candidate(root, error=stat_error_reason(root, e))
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield stat_candidate(root)  # an explicitly named file is always audited
            continue
        yield from _walk(root, filt, recursive, excluded, ignored, excluded_names)


def _without_nested(roots: Sequence[str], recursive: bool) -> list[str]:
    """Roots minus repeats and (when recursive) paths inside another root directory, so
    `audit photos photos/2024` scores each file once without keeping a set of every file seen."""
    real = [(os.fspath(r), os.path.realpath(os.fspath(r))) for r in roots]
    dirs = [rp for _, rp in real if os.path.isdir(rp)]
    out, kept = [], set()
    for root, rp in real:
        if rp in kept:
            continue
        inside = [d for d in dirs if d != rp and rp.startswith(d.rstrip(os.sep) + os.sep)]
        if inside and (recursive or (not os.path.isdir(rp) and os.path.dirname(rp) in inside)):
            continue
        kept.add(rp)
        out.append(root)
    return out


def _is_excluded(entry: os.DirEntry, excluded: set[tuple[int, int]], excluded_names: set[str]) -> bool:
    """One of the audit's own output files (checked by inode, only for entries with such a name)."""
    if entry.name not in excluded_names:
        return False
    try:
        st = entry.stat(follow_symlinks=True)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in excluded


def _walk(root: str, filt: FileFilter, recursive: bool, excluded: set[tuple[int, int]],
          ignored: Optional[Ignored] = None, excluded_names: frozenset[str] | set[str] = frozenset()
          ) -> Iterator[Candidate]:
    root_st = os.stat(root)
    # stack of (directory path, ancestry of (dev, ino) pairs)
    stack: list[tuple[str, tuple[tuple[int, int], ...]]] = [(root, ((root_st.st_dev, root_st.st_ino),))]
    while stack:
        directory, ancestry = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield Candidate(directory, error=f"cannot list directory: {e.strerror or e}")
            continue
        subdirs: list[tuple[str, tuple[tuple[int, int], ...]]] = []
        for entry in entries:
            path = entry.path
            rel = os.path.relpath(path, root)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if not recursive:
                    if filt(entry.name, rel):  # a directory named like an image
                        yield Candidate(path, error="is a directory, not an image file")
                    elif ignored is not None:
                        ignored.folders_not_descended += 1
                    continue
                try:
                    dst = entry.stat(follow_symlinks=True)
                except OSError as e:
                    yield Candidate(path, error=stat_error_reason(path, e))
                    continue
                key = (dst.st_dev, dst.st_ino)
                if key in ancestry:
                    yield Candidate(path, error="symbolic link loop (leads back to a directory being audited)")
                    continue
                subdirs.append((path, ancestry + (key,)))
                continue
            if not filt(entry.name, rel):
                if ignored is not None and not _is_excluded(entry, excluded, excluded_names):
                    ignored.add(path, entry.name)
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as e:
                yield Candidate(path, error=stat_error_reason(path, e))
                continue
            if (st.st_dev, st.st_ino) in excluded:
                continue  # our own output files
            if not stat.S_ISREG(st.st_mode):
                yield Candidate(path, st.st_size, st.st_mtime, error="not a regular file")
                continue
            yield Candidate(path, st.st_size, st.st_mtime)
        del entries
        stack.extend(reversed(subdirs))  # pop() visits subdirectories in sorted order


def count_files(roots: Sequence[str], *, recursive: bool = True, include: Sequence[str] = ()) -> int:
    """Number of entries `iter_candidates` would yield, counted without stat calls where possible
    (for the progress bar's ETA; runs in a background thread)."""
    filt = FileFilter(include)
    n = 0
    for root in roots:
        if not os.path.isdir(root):
            n += 1
            continue
        seen: set[tuple[int, int]] = set()
        stack = [root]
        while stack:
            d = stack.pop()
            try:
                st = os.stat(d)
                if (st.st_dev, st.st_ino) in seen:
                    n += 1
                    continue
                seen.add((st.st_dev, st.st_ino))
                with os.scandir(d) as it:
                    for e in it:
                        try:
                            is_dir = e.is_dir()
                        except OSError:
                            is_dir = False
                        if is_dir:
                            if recursive:
                                stack.append(e.path)
                            elif filt(e.name, os.path.relpath(e.path, root)):
                                n += 1
                        elif filt(e.name, os.path.relpath(e.path, root)):
                            n += 1
            except OSError:
                n += 1
    return n

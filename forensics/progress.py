"""Progress bars on a terminal, silence otherwise (stderr only)."""
from __future__ import annotations

import sys
from typing import Iterable, Optional, TypeVar

T = TypeVar("T")


def progress_bar(it: Iterable[T], *, desc: str = "", total: Optional[int] = None, enabled: bool = True,
                 unit: str = "it") -> Iterable[T]:
    """Wrap an iterable in a tqdm bar when `enabled` and stderr is a TTY."""
    if not enabled or not sys.stderr.isatty():
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)

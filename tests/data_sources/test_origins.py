"""The pinned origins never name a repository reserved for judging the project (read from
../shared/DATA_SOURCES.md, "Reserved: never use"), and every source is pinned and documented."""
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ORIGINS = json.loads((REPO / "data_sources" / "origins.json").read_text())
DATA_SOURCES = REPO.parent / "shared" / "DATA_SOURCES.md"


def _reserved_in_shared_file() -> set[str]:
    text = DATA_SOURCES.read_text()
    section = text.split("## Reserved", 1)[1].split("\n## ", 1)[0]
    return {m.lower() for m in re.findall(r"\b([A-Za-z0-9][\w.-]*/[\w.-]*[\w])\b", section) if not m.startswith("data/")}


def test_no_origin_is_reserved_by_the_shared_file():
    """The reserved list is read from the shared file only, so no reserved name is written in this tree."""
    if not DATA_SOURCES.is_file():
        pytest.skip(f"{DATA_SOURCES} is absent")
    reserved = _reserved_in_shared_file()
    assert len(reserved) >= 10  # the section was found and parsed
    used = {s["repo"].lower() for s in ORIGINS["sources"] if "repo" in s}
    assert not used & reserved
    assert not {u.split("/")[1] for u in used} & {r.split("/")[1] for r in reserved}  # nor a same-named fork


def test_every_source_is_pinned_and_documented():
    names = [s["name"] for s in ORIGINS["sources"]]
    assert len(names) == len(set(names))
    for s in ORIGINS["sources"]:
        assert s["label"] in ("real", "fake") and s["family"] and s.get("licence"), s["name"]
        if "repo" in s:
            assert re.fullmatch(r"[0-9a-f]{40}", s["commit"]), s["name"]
            assert s["paths"], s["name"]
        else:
            assert s["package"] and s["version"], s["name"]

"""Hard-real mining with the shipped fast detector on real photo files."""
import json
from pathlib import Path

import pytest

from forensics.detector import resolve_model_dir
from forensics.training.mining import (MINED_FAKES_NAME, MINED_NAME, hardest, hardest_per_group, mine_hard_fakes,
                              mine_hard_reals)


def test_hardest_takes_the_top_share_highest_first():
    scores = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7}
    assert hardest(scores, 0.5) == [Path("b"), Path("d")]
    assert hardest(scores, 0.01) == [Path("b")]  # at least one file
    assert hardest(scores, 1.0) == [Path(p) for p in ("b", "d", "c", "a")]
    with pytest.raises(ValueError, match="top share"):
        hardest(scores, 0.0)
    with pytest.raises(ValueError, match="no readable real"):
        hardest({}, 0.5)


def test_hardest_per_group_takes_each_sources_share_and_draws_them_equally():
    scores = {"a1": 0.1, "a2": 0.9, "a3": 0.5, "a4": 0.7, "b1": 0.3, "b2": 0.2}
    groups = [[Path(p) for p in ("a1", "a2", "a3", "a4")], [Path("b1"), Path("b2")], [Path("unreadable")]]
    # a's top half and b's top file, repeated so that a uniform draw takes each source half the time
    assert hardest_per_group(scores, groups, 0.5) == [Path(p) for p in ("a2", "a4", "b1", "b1")]
    assert hardest_per_group(scores, groups, 0.5, highest=False) == [Path(p) for p in ("a1", "a3", "b2", "b2")]
    with pytest.raises(ValueError, match="no readable fake"):
        hardest_per_group(scores, [[Path("c")]], 0.5, highest=False)


def test_hardest_fakes_are_the_lowest_scores_lowest_first():
    scores = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7}
    assert hardest(scores, 0.5, highest=False) == [Path("a"), Path("c")]
    with pytest.raises(ValueError, match="no readable fake"):
        hardest({}, 0.5, highest=False)


def test_mining_ranks_by_the_detectors_score_and_caches(photo_files, tmp_path):
    from forensics import Detector

    model = resolve_model_dir("fast")
    files = list(photo_files) + [tmp_path / "broken.png"]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    hard = mine_hard_reals(model, files, tmp_path, top=0.5, device="cpu", progress=False)
    det = Detector.load(model, device="cpu")
    expected = sorted(photo_files, key=lambda f: -det.score(f))
    assert hard == [Path(p) for p in expected[:round(len(photo_files) / 2)]]
    cache = json.loads((tmp_path / MINED_NAME).read_text())
    assert str(tmp_path / "broken.png") not in cache["scores"] and len(cache["scores"]) == len(photo_files)
    # a resumed run reads the cache instead of scoring again: planted scores come back
    cache["scores"] = {str(f): float(i) for i, f in enumerate(photo_files)}
    (tmp_path / MINED_NAME).write_text(json.dumps(cache))
    assert mine_hard_reals(model, files, tmp_path, top=0.01, device="cpu", progress=False) == [Path(photo_files[-1])]


def test_fake_mining_ranks_lowest_first_in_its_own_cache(photo_files, tmp_path):
    from forensics import Detector

    model = resolve_model_dir("fast")
    hard = mine_hard_fakes(model, photo_files, tmp_path, top=0.5, device="cpu", progress=False)
    det = Detector.load(model, device="cpu")
    expected = sorted(photo_files, key=lambda f: det.score(f))
    assert hard == [Path(p) for p in expected[:round(len(photo_files) / 2)]]
    assert (tmp_path / MINED_FAKES_NAME).is_file() and not (tmp_path / MINED_NAME).exists()

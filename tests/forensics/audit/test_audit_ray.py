"""Ray engine on a local Ray cluster: same records and scores as the local engine (PyTorch forward)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics.audit import audit
from tests.forensics.audit.conftest import make_images

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e .[ray]")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray cluster (2 CPUs, no dashboard) for this module only."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _records(path: Path) -> dict[str, dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    recs = [json.loads(line) for line in data.splitlines()]
    assert len(recs) == len({r["path"] for r in recs})
    return {r["path"]: r for r in recs}


def test_ray_engine_equals_local(tmp_path, detector, local_ray):
    root = tmp_path / "imgs"
    make_images(root, 10, size=48, seed=7)
    make_images(root / "sub", 3, size=64, seed=8, prefix="b", ext=".jpg")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    audit(root, local_out, detector=detector, backend="torch", workers=0, batch_size=4, provenance=False)
    s = audit(root, ray_out, engine="ray", model="patch", device="cpu", workers=1, batch_size=4, provenance=False)
    a, b = _records(local_out), _records(ray_out)
    assert a.keys() == b.keys() and len(a) == 14 and s.engine == "ray" and s.records == 14
    for path, ra in a.items():
        rb = b[path]
        assert (ra["label"], ra["model"], ra["sha256"], ra["width"]) == (rb["label"], rb["model"], rb["sha256"],
                                                                         rb["width"])
        if ra["label"] == "error":
            assert ra["error"] == rb["error"]
        else:
            assert rb["score"] == pytest.approx(ra["score"], abs=1e-5)
            assert rb["heatmap"]["grid"] == ra["heatmap"]["grid"]
            assert rb["heatmap"]["max"] == pytest.approx(ra["heatmap"]["max"], abs=1e-5)
    # resume on the Ray engine: nothing new to do, nothing duplicated
    s2 = audit(root, ray_out, engine="ray", model="patch", device="cpu", workers=1, batch_size=4, provenance=False)
    assert s2.skipped == 14 and s2.scored == 0 and len(_records(ray_out)) == 14


def test_ray_engine_applies_a_threshold_profile_on_every_actor(tmp_path, detector, local_ray):
    """--profile on the Ray engine: the driver resolves the threshold without loading weights and every
    actor gives verdicts at it; an unknown profile stops before Ray work starts."""
    from forensics.audit import AuditError

    portraits = detector.threshold_profiles()["portraits"]
    root = tmp_path / "imgs"
    make_images(root, 6, size=48, seed=3)
    out = tmp_path / "ray.jsonl"
    audit(root, out, engine="ray", model="patch", device="cpu", workers=1, batch_size=4, provenance=False, profile="portraits")
    recs = _records(out)
    assert len(recs) == 6 and {r["threshold"] for r in recs.values()} == {portraits}
    assert all((r["label"] == "fake") == (r["score"] >= portraits) for r in recs.values())
    with pytest.raises(AuditError, match="no threshold profile 'pets'"):
        audit(root, tmp_path / "other.jsonl", engine="ray", model="patch", device="cpu", workers=1, provenance=False, profile="pets")

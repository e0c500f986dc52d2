import numpy as np
import pytest

from forensics import Detector, ScanResult


def test_default_loads_offline_and_records_provenance_of_training(detector):
    cfg = detector.config
    assert cfg["arch"] and "training" in cfg and 0 < detector.threshold < 1
    assert detector.model.is_patch


def test_scan_path_and_array_agree(detector, photo_files):
    from forensics.decoding import load_image

    r = detector.scan(photo_files[0])
    assert isinstance(r, ScanResult) and r.label in ("fake", "real") and 0.0 <= r.score <= 1.0
    assert r.width > 0 and r.height > 0 and len(r.sha256) == 64 and r.error is None
    arr = detector.scan(load_image(photo_files[0]).rgb)
    assert arr.score == pytest.approx(r.score, abs=1e-6)
    assert arr.path is None


def test_scan_many_matches_single_scans(detector, photos):
    crops = [rgb[:96, :128] for rgb in list(photos.values())[:5]]
    batched = list(detector.scan_many(crops, batch_size=4))
    single = [detector.scan(c) for c in crops]
    assert [round(b.score, 4) for b in batched] == [round(s.score, 4) for s in single]


def test_heatmap_shape_follows_stride(detector, photos):
    rgb = next(iter(photos.values()))[:200, :160]
    hm = detector.heatmap(rgb)
    stride = detector.describe()["stride"]
    # padded stride-2 stages round up: one cell per started stride
    assert hm.shape == (-(-200 // stride), -(-160 // stride))
    assert ((hm >= 0) & (hm <= 1)).all()


def test_tiled_large_image_matches_whole_image(detector, photos):
    rgb = photos["astronaut"] if "astronaut" in photos else next(iter(photos.values()))
    whole = detector.heatmap(rgb)
    tiled_det = Detector(detector.model, {**detector.config, "preprocessing": {
        **detector.config.get("preprocessing", {}), "tile": 256, "tile_overlap": 64}}, device=detector.device)
    tiled = tiled_det.heatmap(rgb)
    assert tiled.shape == whole.shape
    inner = (slice(12, -12), slice(12, -12))  # away from tile borders the maps agree closely
    assert np.abs(tiled[inner] - whole[inner]).mean() < 0.05


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 2, 3), (3, 7, 3), (5, 900, 3)])
def test_tiny_and_elongated_images(detector, shape):
    r = detector.scan(np.full(shape, 128, np.uint8))
    assert r.label in ("real", "fake")
    if min(shape[:2]) < detector.preprocessing.min_side:
        assert any("padded" in n for n in r.notes)


def test_thumbnails_carry_a_weak_evidence_note(detector, photos):
    from forensics.detector import WEAK_EVIDENCE_SIDE

    rgb = next(iter(photos.values()))
    side = detector.preprocessing.min_side
    small = detector.scan(rgb[:side + 8, :WEAK_EVIDENCE_SIDE + 20])  # above the padding size, under 64 px
    large = detector.scan(rgb[:WEAK_EVIDENCE_SIDE, :WEAK_EVIDENCE_SIDE])
    assert any(f"smaller than {WEAK_EVIDENCE_SIDE} px" in n and "weak evidence" in n for n in small.notes)
    assert not any("padded" in n for n in small.notes)
    assert not any("smaller than" in n for n in large.notes)


def test_bad_inputs_become_error_records(detector, tmp_path):
    txt = tmp_path / "notes.png"
    txt.write_text("hello")
    results = list(detector.scan_many([tmp_path / "missing.jpg", txt, tmp_path], batch_size=2))
    assert [r.label for r in results] == ["error"] * 3
    assert "not found" in results[0].error
    assert "directory" in results[2].error
    assert all("\n" not in r.error for r in results)


def test_module_level_scan_caches_the_default(photo_files):
    import forensics

    first = forensics.scan(photo_files[0], device="cpu", provenance=False)
    second = forensics.scan(photo_files[0], device="cpu", provenance=False)
    assert (first.score, first.label, first.sha256) == (second.score, second.label, second.sha256)
    assert 0.0 <= first.score <= 1.0
    from forensics.detector import _cached_detector
    assert _cached_detector.cache_info().hits >= 1


def test_near_threshold_note_only_where_the_strictest_source_alone_keeps_a_score_real(detector, photos):
    from forensics.results import NEAR_MISS_PREFIX

    rgb = next(iter(photos.values()))[:128, :128]
    score = detector.scan(rgb).score
    assert score < 1.0
    strict = round(score + (1.0 - score) / 2, 6)  # the verdict threshold, set by one source
    calibrated = lambda per_source: Detector(detector.model, {
        **detector.config, "threshold": strict,
        "calibration": {"rule": "max over real sources", "per_source_threshold": per_source}}, device=detector.device)

    near = calibrated({"real:strict": strict, "real:other": round(score / 2, 6), "real:third": 0.0}).scan(rgb)
    assert near.label == "real" and near.score == score
    notes = [n for n in near.notes if n.startswith(NEAR_MISS_PREFIX)]
    assert len(notes) == 1 and "real:strict" in notes[0] and f"{strict:.6f}" in notes[0]

    # another source would also keep it real: no note
    other_high = calibrated({"real:strict": strict, "real:other": round((score + strict) / 2, 6)})
    assert not any(n.startswith(NEAR_MISS_PREFIX) for n in other_high.scan(rgb).notes)
    # a threshold the record did not set (e.g. --threshold): no note
    overridden = calibrated({"real:strict": strict, "real:other": round(score / 2, 6)})
    overridden.threshold = round((score + strict) / 2, 6)
    assert overridden.near_miss_note(score) is None
    # flagged images and a pooled calibration record carry none either
    assert overridden.near_miss_note(strict) is None
    assert Detector(detector.model, {**detector.config, "threshold": strict, "calibration": {"target_fpr": 0.01}},
                    device=detector.device).near_miss_note(score) is None


def test_use_profile_takes_its_threshold_and_names_the_profiles_on_a_miss(detector):
    profiled = Detector(detector.model, {**detector.config, "calibration": {
        "per_source_threshold": {"real:a": 0.4}, "profiles": {"portraits": {"threshold": 0.69, "sources": ["real:a"]}}}},
        device=detector.device)
    assert profiled.threshold_profiles() == {"portraits": 0.69}
    assert profiled.describe()["threshold_profiles"] == {"portraits": 0.69}
    profiled.use_profile("portraits")
    assert profiled.threshold == 0.69
    with pytest.raises(ValueError, match=r"no threshold profile 'pets' \(profiles: portraits\)"):
        profiled.use_profile("pets")
    bare = Detector(detector.model, {**detector.config, "calibration": {"target_fpr": 0.01}}, device=detector.device)
    assert bare.threshold_profiles() == {}
    with pytest.raises(ValueError, match=r"\(profiles: none\)"):
        bare.use_profile("portraits")

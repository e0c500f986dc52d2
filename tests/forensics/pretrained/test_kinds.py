"""Kinds of picture with their own threshold: routing, offsets calibrated on held-out photos, the shifted cross-fit."""
import numpy as np
import pytest

from forensics.pretrained.calibration import balanced_fpr, balanced_threshold
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.kinds import (KindSpec, fit_kind_routing, kind_offsets, kind_specs, load_kind_rules, route,
                                        routed_kind, shift)
from forensics.pretrained.probe import LinearProbe
from forensics.pretrained.selection import Rows, cross_fit

SPEC = FeatureSpec((4,), (), "resize224")


def test_route_takes_the_first_kind_whose_logit_is_positive_and_nan_routes_nowhere():
    a = np.array([1.0, -1.0, 2.0, np.nan, -3.0])
    b = np.array([5.0, 0.5, -1.0, 4.0, -1.0])
    assert route([a, b]).tolist() == [0, 1, 0, 1, -1]
    assert shift(np.zeros(5), route([a, b]), [-2.0, 1.0]).tolist() == [-2.0, 1.0, -2.0, 1.0, 0.0]


def test_kind_specs_refuse_unnamed_empty_or_repeated_kinds():
    assert kind_specs({}) == []
    assert kind_specs({"image_kinds": [{"name": "thermal", "members": ["infrared"]}]}) == [
        KindSpec("thermal", ("infrared",), 1e-2)]
    for bad in ([{"name": "", "members": ["x"]}], [{"name": "a b", "members": ["x"]}], [{"name": "t", "members": []}],
                [{"name": "t", "members": ["x"]}, {"name": "t", "members": ["y"]}]):
        with pytest.raises(ValueError, match="image_kinds"):
            kind_specs({"image_kinds": bad})


def test_offsets_move_each_kinds_threshold_onto_the_general_one():
    rng = np.random.default_rng(0)
    sources = np.repeat([f"photo{i}" for i in range(6)] + ["thermal0", "thermal1"], 200)
    is_kind = np.char.startswith(sources.astype(str), "thermal")
    logits = rng.normal(size=sources.size) + np.where(is_kind, 4.0, 0.0)  # the kind scores high whatever it shows
    routed = np.where(is_kind, 0, -1)
    offsets, general, (alone,) = kind_offsets([logits], [routed], sources, 1, 0.01, 0.01)
    assert alone > general + 3 and offsets == [pytest.approx(general - alone)]
    shifted = shift(logits, routed, offsets)
    # one threshold on the shifted scores keeps every source near its cap, and sits far under the unshifted one
    thr = balanced_threshold(shifted, sources, 0.01, per_source_cap=0.01)
    assert thr == pytest.approx(general, abs=0.3)
    assert thr < balanced_threshold(logits, sources, 0.01, per_source_cap=0.01) - 2
    assert max(balanced_fpr(shifted, sources, thr)[1].values()) <= 0.01
    # a kind no held-out photo was routed to moves nothing; photos all routed leave nothing to calibrate the rest
    assert kind_offsets([logits], [np.full(sources.size, -1)], sources, 1, 0.01, 0.01)[0] == [0.0]
    with pytest.raises(ValueError, match="every held-out real photo"):
        kind_offsets([logits], [np.zeros(sources.size, int)], sources, 1, 0.01, 0.01)


def _rows(rng):
    """Real photos of 9 sources (4 of them a recognisable kind that scores high) and fakes of 3 families."""
    names, labels, fams, feats = [], [], [], []
    for i in range(9):
        kind = i < 4
        for _ in range(60):
            x = rng.normal(size=SPEC.dim)
            x[:64] += 1.0 if kind else 0.0  # what makes the kind recognisable
            x[100:164] += 0.4 if kind else 0.0  # and why its photos look fake to the verdict probe
            names.append(f"{'thermal' if kind else 'photo'}{i}"), labels.append(0), fams.append(
                "infrared" if kind else "photo"), feats.append(x)
    for f in range(3):
        for _ in range(60):
            x = rng.normal(size=SPEC.dim)
            x[100:164] += 0.5
            names.append(f"gen{f}"), labels.append(1), fams.append(f"fam{f}"), feats.append(x)
    n = len(names)
    rows = Rows(np.arange(n)[:, None], np.array([f"{s}/{i}" for i, s in enumerate(names)]), np.array(labels),
                np.array(fams), np.array(names), np.array(["clean"] * n))
    return rows, np.array(feats, np.float32)


def test_kind_routing_cross_fits_the_router_and_lowers_the_threshold_for_everything_else():
    from forensics.pretrained.recipe import _fused_crossfit
    from forensics.pretrained.combiner import Combiner

    rows, feats = _rows(np.random.default_rng(1))

    def verdict_fit(idx, y, src):  # a fixed score that, like the real probe, rates the kind's photos high
        return lambda jdx: 8.0 * feats[jdx[:, 0], 100:164].mean(axis=1) - 2.0

    grouping = {"n_groups": 3, "dealings": 2}
    clip_cf = cross_fit(rows, verdict_fit, **grouping)
    fused = _fused_crossfit(clip_cf, Combiner(1.0, 0.0, 0.0), np.zeros(len(rows.label)))  # the CLIP logit alone
    assert fused.real_logit_dealings.shape == (2, len(rows.label))
    clean_real = rows.label == 0
    routing = fit_kind_routing([KindSpec("thermal", ("infrared",))], rows=rows, features=lambda i: feats[i],
                               feature_spec=SPEC, family_of=dict(zip(rows.source, rows.family)),
                               trained=np.ones(len(rows.label), bool), cross_fit_kwargs=grouping, fused=fused,
                               clean_real=clean_real, target=0.01, cap=0.01, seen_folds=3, log=lambda _m: None)
    table = routing.routing["thermal"]
    # held-out members are recognised by routers that never saw them; nothing else is routed
    assert set(table["member_sources_routed"]) == {"thermal0", "thermal1", "thermal2", "thermal3"}
    assert min(table["member_sources_routed"].values()) >= 0.9
    assert table["other_photos_routed"] <= 2 and sum(int(v.split("/")[0]) for v in table["left_out_fakes_routed"].values()) <= 2
    assert routing.offsets[0] < -0.5 and len(routing.seen_logits[0]) == len(rows.label)
    # the threshold of the shifted scores sits under the unshifted one, and more left-out fakes clear it
    from forensics.pretrained.recipe import real_threshold

    before = real_threshold(fused, lambda l: l, clean_real, {"target_fpr": 0.01, "per_source_fpr_cap": 0.01})
    after = real_threshold(routing.shifted, lambda l: l, clean_real, {"target_fpr": 0.01, "per_source_fpr_cap": 0.01})
    assert after < before
    flagged = lambda cf, t: np.mean([np.nanmean(v[np.isfinite(v)] >= t) for v in cf.fake_logit.values()])
    assert flagged(routing.shifted, after) > flagged(fused, before)
    # the shipped probe recognises the kind on new rows
    probe = routing.probes[0]
    assert probe.logits(feats[rows.family == "infrared"]).min() > 0 > np.median(probe.logits(feats[rows.family == "photo"]))


def test_kind_rules_load_from_the_model_folder_and_refuse_malformed_entries(tmp_path):
    probe = LinearProbe(SPEC, np.zeros(SPEC.dim, np.float32), np.ones(SPEC.dim, np.float32),
                        np.zeros(SPEC.dim, np.float32), 3.0)
    probe.save(tmp_path / "kind_thermal.safetensors")
    (rule,) = load_kind_rules(tmp_path, [{"name": "thermal", "probe": "kind_thermal.safetensors", "offset": -0.7}], SPEC)
    assert rule.name == "thermal" and rule.offset == -0.7
    assert routed_kind([rule], [float(rule.probe.logits(np.zeros((1, SPEC.dim)))[0])]) is rule
    assert routed_kind([rule], [-1.0]) is None
    with pytest.raises(ValueError, match="finite offset"):
        load_kind_rules(tmp_path, [{"name": "thermal", "offset": float("nan")}], SPEC)
    with pytest.raises(ValueError, match="shape"):
        load_kind_rules(tmp_path, [{"name": "thermal", "offset": -1.0}], FeatureSpec((4, 5), (), "resize224"))

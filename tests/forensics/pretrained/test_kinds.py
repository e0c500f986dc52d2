"""Kinds of picture with their own threshold: routing, offsets calibrated on held-out photos, the shifted cross-fit."""
import numpy as np
import pytest

from forensics.pretrained.calibration import balanced_fpr, balanced_threshold
from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.kinds import (ExpertSpec, KindSpec, blend, cross_fit_kinds, fit_kind_routing, judge_by_kind,
                                        kind_offsets, kind_specs, load_kind_rules, route, shift)
from sklearn.metrics import average_precision_score as average_precision
from forensics.pretrained.probe import LinearProbe, balanced_weights, fit_probe
from forensics.pretrained.selection import Rows, cross_fit

SPEC = FeatureSpec((4,), (), "resize224")


def test_route_takes_the_first_kind_whose_logit_is_positive_and_nan_routes_nowhere():
    a = np.array([1.0, -1.0, 2.0, np.nan, -3.0])
    b = np.array([5.0, 0.5, -1.0, 4.0, -1.0])
    assert route([a, b]).tolist() == [0, 1, 0, 1, -1]
    assert shift(np.zeros(5), route([a, b]), [-2.0, 1.0]).tolist() == [-2.0, 1.0, -2.0, 1.0, 0.0]


def test_blend_moves_rows_routed_to_a_kind_with_an_expert_toward_it():
    general = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    routed = np.array([0, 1, 1, -1, 1])
    expert = np.array([9.0, 4.0, np.nan, 4.0, -2.0])  # a NaN expert logit (a fold without one) moves nothing
    assert blend(general, routed, [None, expert], [0.0, 0.5]).tolist() == [0.0, 2.0, 0.0, 0.0, -1.0]
    assert blend(general, routed, [None, expert], [0.0, 1.0]).tolist() == [0.0, 4.0, 0.0, 0.0, -2.0]


def test_kind_specs_refuse_unnamed_empty_or_repeated_kinds():
    assert kind_specs({}) == []
    assert kind_specs({"image_kinds": [{"name": "thermal", "members": ["infrared"]}]}) == [
        KindSpec("thermal", ("infrared",), 1e-2)]
    assert kind_specs({"image_kinds": [{"name": "face", "members": ["faces"], "expert": {"l2": 0.01, "weight": 0.25}}]}) == [
        KindSpec("face", ("faces",), 1e-2, ExpertSpec(0.01, 0.25))]
    for bad in ([{"name": "", "members": ["x"]}], [{"name": "a b", "members": ["x"]}], [{"name": "t", "members": []}],
                [{"name": "t", "members": ["x"]}, {"name": "t", "members": ["y"]}],
                [{"name": "t", "members": ["x"], "expert": {"weight": 0}}], [{"name": "t", "members": ["x"], "expert": 1}],
                [{"name": "t", "members": ["x"], "expert": {"weight": 1.5}}]):
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


def _as_rows(names, labels, fams, feats):
    """Clean feature rows (feats hold row indices) and their feature matrix."""
    n = len(names)
    rows = Rows(np.arange(n)[:, None], np.array([f"{s}/{i}" for i, s in enumerate(names)]), np.array(labels),
                np.array(fams), np.array(names), np.array(["clean"] * n))
    return rows, np.array(feats, np.float32)


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
    return _as_rows(names, labels, fams, feats)


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
    family_of = dict(zip(rows.source, rows.family))
    crossfits = cross_fit_kinds([KindSpec("thermal", ("infrared",))], rows=rows, features=lambda i: feats[i],
                                feature_spec=SPEC, family_of=family_of, trained=np.ones(len(rows.label), bool),
                                cross_fit_kwargs=grouping, seen_folds=3, log=lambda _m: None)
    assert crossfits.experts == [None] and np.array_equal(crossfits.blended(clip_cf).real_logit, clip_cf.real_logit,
                                                          equal_nan=True)
    routing = fit_kind_routing(crossfits, fused=fused, clean_real=clean_real, target=0.01, cap=0.01,
                               log=lambda _m: None)
    table = routing.routing["thermal"]
    # held-out members are recognised by routers that never saw them; nothing else is routed
    assert set(table["member_sources_routed"]) == {"thermal0", "thermal1", "thermal2", "thermal3"}
    assert min(table["member_sources_routed"].values()) >= 0.9
    assert table["other_photos_routed"] <= 2 and sum(int(v.split("/")[0]) for v in table["left_out_fakes_routed"].values()) <= 2
    assert routing.offsets[0] < -0.5 and len(routing.crossfits.router_seen[0]) == len(rows.label)
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
    assert rule.name == "thermal" and rule.offset == -0.7 and rule.expert is None
    logit = rule.probe.logits(np.zeros((1, SPEC.dim)))
    assert judge_by_kind([rule], np.array([1.5]), [logit], [None])[1].tolist() == [0]
    assert judge_by_kind([rule], np.array([1.5]), [-logit], [None])[1].tolist() == [-1]
    # a kind with an expert: its probe beside the kind probe, and how far the CLIP logit moves toward it
    probe.save(tmp_path / "kind_face_expert.safetensors")
    (face,) = load_kind_rules(tmp_path, [{"name": "face", "probe": "kind_thermal.safetensors", "offset": 0.0,
                                          "expert": {"probe": "kind_face_expert.safetensors", "weight": 0.5}}], SPEC)
    assert face.expert is not None and face.expert_weight == 0.5
    clip, routed = judge_by_kind([rule, face], np.array([1.0, 1.0]), [np.array([-1.0, 2.0]), np.array([3.0, 3.0])],
                                 [None, np.array([5.0, 7.0])])
    assert routed.tolist() == [1, 0] and clip.tolist() == [3.0, 1.0]  # routed to thermal first: no expert there
    for bad, match in (({"probe": "kind_face_expert.safetensors", "weight": 2}, "weight in"),
                       ({"probe": "absent.safetensors", "weight": 0.5}, "the expert of kind 'face' is missing")):
        with pytest.raises(ValueError, match=match):
            load_kind_rules(tmp_path, [{"name": "face", "probe": "kind_thermal.safetensors", "offset": 0.0, "expert": bad}],
                            SPEC)
    with pytest.raises(ValueError, match="finite offset"):
        load_kind_rules(tmp_path, [{"name": "thermal", "offset": float("nan")}], SPEC)
    with pytest.raises(ValueError, match="shape"):
        load_kind_rules(tmp_path, [{"name": "thermal", "offset": -1.0}], FeatureSpec((4, 5), (), "resize224"))


def _face_rows(rng):
    """Photos and fakes where a kind's fakes give themselves away in a way that, in other pictures, marks real photos:
    a general probe learns both at once and ranks the kind's fakes poorly; an expert fitted on the kind only does not."""
    names, labels, fams, feats = [], [], [], []

    def add(name, label, fam, face, tell, n=50):
        for _ in range(n):
            x = rng.normal(size=SPEC.dim)
            x[:64] += 1.5 if face else 0.0  # what makes a picture a face
            x[100:164] += tell
            names.append(name), labels.append(label), fams.append(fam), feats.append(x)

    for i in range(6):
        add(f"photo{i}", 0, "photo", False, 0.6 if i % 2 else 0.0)  # half the ordinary photos carry the tell
    for i in range(4):
        add(f"face{i}", 0, "faces", True, 0.0)
    for f in range(3):
        add(f"gen{f}", 1, f"fam{f}", False, -0.6)  # ordinary fakes: the tell is inverted
    for f in range(3):
        add(f"facegen{f}", 1, f"facefam{f}", True, 0.6)  # face fakes: the tell means fake
    return _as_rows(names, labels, fams, feats)


def test_a_kind_with_an_expert_ranks_its_left_out_fakes_better_than_the_general_probe():
    rows, feats = _face_rows(np.random.default_rng(2))

    def verdict_fit(idx, y, src):
        probe = fit_probe(feats[idx[:, 0]], y, SPEC, weights=balanced_weights(y, src), l2=1e-3)
        return lambda jdx: probe.logits(feats[jdx[:, 0]])

    grouping = {"n_groups": 2, "dealings": 2}
    general = cross_fit(rows, verdict_fit, **grouping)
    family_of = dict(zip(rows.source, rows.family))
    members = ("faces", "facefam0", "facefam1", "facefam2")
    spec = KindSpec("face", members, expert=ExpertSpec(1e-3, 1.0))
    crossfits = cross_fit_kinds([spec], rows=rows, features=lambda i: feats[i], feature_spec=SPEC,
                                family_of=family_of, trained=np.ones(len(rows.label), bool),
                                cross_fit_kwargs=grouping, seen_folds=3, log=lambda _m: None)
    blended = crossfits.blended(general)
    assert blended.real_logit_dealings.shape == general.real_logit_dealings.shape

    def ap(cf, fam):
        face_real = (rows.label == 0) & (rows.family == "faces")
        fl, rl = cf.fake_logit[fam], cf.real_logit_without[fam]
        m = np.isfinite(fl)
        return average_precision(np.r_[np.ones(m.sum()), np.zeros(face_real.sum())], np.r_[fl[m], rl[face_real]])

    for fam in ("facefam0", "facefam1", "facefam2"):
        assert ap(blended, fam) > ap(general, fam) + 0.05
    # rows the kind probe does not route keep the general logit
    photo = rows.family == "photo"
    routed = route([crossfits.routers[0].real_logit])
    assert np.mean(routed[photo] == -1) > 0.9
    keep = photo & (routed == -1)
    assert np.allclose(blended.real_logit[keep], general.real_logit[keep])
    # the seen logits blend the same way, and the shipped expert ships with the routing
    assert len(crossfits.blend_seen(np.zeros(len(rows.label)))) == len(rows.label)
    fused = blended  # the CLIP logit alone
    routing = fit_kind_routing(crossfits, fused=fused, clean_real=rows.label == 0, target=0.05, cap=None,
                               log=lambda _m: None)
    assert routing.experts[0] is not None and routing.probes[0] is not None
    with pytest.raises(ValueError, match="needs real and fake members"):
        cross_fit_kinds([KindSpec("face", ("faces",), expert=ExpertSpec())], rows=rows, features=lambda i: feats[i],
                        feature_spec=SPEC, family_of=family_of, trained=np.ones(len(rows.label), bool),
                        cross_fit_kwargs=grouping, seen_folds=3, log=lambda _m: None)

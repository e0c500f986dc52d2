import numpy as np

from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.probe import balanced_weights, fit_probe
from forensics.metrics import rate_upper_bound
from forensics.pretrained.report_figures import family_table, real_table
from forensics.pretrained.selection import Rows, column, cross_fit, image_folds, real_groups, seen_family_logits


def _rows(seed=0):
    """Fake families share one direction of evidence except 'odd', which lies along another."""
    rng = np.random.default_rng(seed)
    d = 16
    parts = []
    for fam, label, n, shift in (("a", 1, 60, 0), ("b", 1, 60, 0), ("odd", 1, 60, 1),
                                 ("r1", 0, 80, None), ("r2", 0, 40, None), ("r3", 0, 40, None)):
        x = rng.normal(size=(n, d))
        if label:
            x[:, shift] += 4.0
        parts.append((x, np.full(n, label), np.full(n, fam)))
    x = np.concatenate([p[0] for p in parts]).astype(np.float32)
    label = np.concatenate([p[1] for p in parts])
    fam = np.concatenate([p[2] for p in parts])
    keys = np.array([f"{f}/{i}" for i, f in enumerate(fam)])
    return Rows(x, keys, label, fam, fam.copy(), np.array(["clean"] * len(label)))


def _fit(x, y, src):
    spec = FeatureSpec((0,), (), "resize224")
    probe = fit_probe(x, y, spec, weights=balanced_weights(y, src), l2=1e-2)
    return probe.logits


def test_a_left_out_family_is_scored_by_models_that_never_saw_it():
    rows = _rows()
    groups = real_groups(rows, 3)
    assert sorted(groups) == ["r1", "r2", "r3"] and len(set(groups.values())) == 3
    cf = cross_fit(rows, _fit, n_groups=3)
    fam = {r["family"]: r for r in family_table(cf, 0.0)}
    # families sharing the evidence direction are found when left out; the odd one is not
    assert fam["a"]["ap_clean"] > 0.9 and fam["b"]["ap_clean"] > 0.9
    assert fam["odd"]["ap_clean"] < fam["a"]["ap_clean"]
    assert np.isfinite(cf.real_logit[rows.label == 0]).all()
    reals = real_table(cf, 0.0)
    assert {r["source"] for r in reals} == {"r1", "r2", "r3"}
    assert all(0 <= r["fpr_clean"] <= r["fpr_upper_clean"] <= 1 for r in reals)


def test_sources_of_one_origin_are_held_out_together():
    rows = _rows()
    groups = real_groups(rows, 2, together={"r2": "origin-x", "r3": "origin-x"})
    assert groups["r2"] == groups["r3"] != groups["r1"]  # r2 + r3 (80 images) dealt as one unit beside r1 (80)
    seen = []

    def fit(x, y, src):  # records which real sources each fit trained on
        seen.append(set(src[y == 0]))
        return _fit(x, y, src)

    cf = cross_fit(rows, fit, n_groups=2, together={"r2": "origin-x", "r3": "origin-x"})
    assert {"r1"} in seen and {"r2", "r3"} in seen and not any(s == {"r1", "r2"} or s == {"r1", "r3"} for s in seen)
    assert np.isfinite(cf.real_logit[rows.label == 0]).all()


def test_fpr_upper_bound():
    assert 0.02 < rate_upper_bound(0, 100) < 0.03  # rule of three
    assert rate_upper_bound(5, 5) == 1.0


def test_dealt_balances_counts_deterministically():
    from forensics.pretrained.selection import dealt

    groups = dealt({"a": 50, "b": 40, "c": 30, "d": 20, "e": 10}, 2)
    load = [sum(c for n, c in {"a": 50, "b": 40, "c": 30, "d": 20, "e": 10}.items() if groups[n] == g) for g in (0, 1)]
    assert sorted(load) == [70, 80]
    assert dealt({"a": 50, "b": 40, "c": 30, "d": 20, "e": 10}, 2) == groups


def test_other_dealings_give_other_groups_and_are_reproducible():
    from forensics.pretrained.selection import dealt

    counts = {f"s{i}": 10 + i for i in range(12)}
    first = dealt(counts, 3)
    others = [dealt(counts, 3, dealing=d) for d in (1, 2)]
    assert all(sorted(set(g.values())) == [0, 1, 2] for g in others)  # every group gets sources
    assert any(g != first for g in others)
    assert others == [dealt(counts, 3, dealing=d) for d in (1, 2)]  # seeded: the same dealing every run


def test_dealings_average_each_rows_logits_over_the_dealings():
    rows = _rows()
    runs = [cross_fit(rows, _fit, n_groups=2)]  # dealing 0
    from forensics.pretrained.selection import _cross_fit_once

    runs.append(_cross_fit_once(rows, _fit, n_groups=2, train_conditions=None, families=None, progress=None,
                                together=None, lineage=None, dealing=1))
    both = cross_fit(rows, _fit, n_groups=2, dealings=2)
    real = rows.label == 0
    assert np.allclose(both.real_logit[real], (runs[0].real_logit[real] + runs[1].real_logit[real]) / 2)
    # each dealing's real logits are kept beside their mean, for a threshold that holds for one probe
    assert both.real_logit_dealings.shape == (2, len(rows.label))
    assert np.allclose(both.real_logit_dealings[:, real], [runs[0].real_logit[real], runs[1].real_logit[real]])
    assert runs[0].real_logit_dealings.size == 0
    for fam in ("a", "b", "odd"):
        m = rows.family == fam
        assert np.allclose(both.fake_logit[fam][m], (runs[0].fake_logit[fam][m] + runs[1].fake_logit[fam][m]) / 2)
        assert np.isfinite(both.real_logit_without[fam][real]).all()
    try:
        cross_fit(rows, _fit, dealings=0)
    except ValueError as e:
        assert "dealings" in str(e)
    else:
        raise AssertionError("dealings=0 was accepted")


def test_grouped_cross_fit_scores_every_row_with_a_model_blind_to_its_family_and_source():
    from forensics.pretrained.selection import grouped_cross_fit

    rows = _rows()
    rows = Rows(rows.feats, rows.keys, rows.label, rows.family,
                np.where(rows.label == 0, rows.source, np.char.add(rows.family, "-src")), rows.condition)
    seen: list[set] = []  # sources each fold trained on

    def fit(x, y, src):
        seen.append(set(src))
        base = _fit(x, y, src)
        return lambda q: np.stack([base(q), np.full(len(q), float(len(seen)))], axis=1)

    cf = grouped_cross_fit(rows, fit, n_folds=3)
    assert len(seen) == 3
    fold_of_row = column(cf, 1)
    for fam, fl in fold_of_row.fake_logit.items():
        m = np.isfinite(fl)
        assert m.sum() == (rows.family == fam).sum()
        fold = int(fl[m][0]) - 1
        assert (fl[m] == fold + 1).all()  # a family is held out whole, by one fold
        assert f"{fam}-src" not in seen[fold]
    real = rows.label == 0
    for src in set(rows.source[real]):
        folds = set(fold_of_row.real_logit[rows.source == src].astype(int) - 1)
        assert len(folds) == 1 and src not in seen[folds.pop()]
    scores = column(cf, 0)
    assert np.isfinite(scores.real_logit[real]).all() and np.isnan(scores.real_logit[~real]).all()
    fam = {r["family"]: r for r in family_table(scores, 0.0)}
    assert fam["a"]["ap_clean"] > 0.9


def test_fold_groups_holds_out_whole_families_and_real_sources_in_balanced_folds():
    from forensics.pretrained.selection import fold_groups

    family = np.array(["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["real"] * 60)
    label = np.array([1] * 90 + [0] * 60)
    source = np.array(["a1"] * 40 + ["b1"] * 30 + ["c1"] * 20 + ["r1"] * 30 + ["r2"] * 20 + ["r3"] * 10)
    group, fam_group = fold_groups(family, source, label, 3)
    assert sorted(fam_group.values()) == [0, 1, 2]  # three families, one per fold
    for fam, g in fam_group.items():
        assert (group[(family == fam) & (label == 1)] == g).all()
    for src in ("r1", "r2", "r3"):
        assert len(set(group[source == src])) == 1  # a real source is never split
    assert sorted(set(group[label == 0])) == [0, 1, 2]


def test_held_out_crossfit_keeps_each_row_logit_under_its_family_and_the_reals():
    from forensics.pretrained.selection import held_out_crossfit

    rows = _rows()
    logit = np.arange(len(rows.label), dtype=float)
    cf = held_out_crossfit(rows, logit)
    real = rows.label == 0
    assert np.array_equal(cf.real_logit[real], logit[real]) and np.isnan(cf.real_logit[~real]).all()
    for fam, fl in cf.fake_logit.items():
        mine = (rows.family == fam) & ~real
        assert np.array_equal(fl[mine], logit[mine]) and np.isnan(fl[~mine]).all()
        assert cf.real_logit_without[fam] is cf.real_logit
    assert set(cf.fake_logit) == set(rows.family[~real])


def test_a_lineage_is_left_out_together_and_each_family_scored_as_itself():
    rows = _rows()
    seen = []

    def fit(x, y, src):  # records which fake families each fit trained on
        seen.append(set(src[y == 1]))
        return _fit(x, y, src)

    cf = cross_fit(rows, fit, n_groups=2, lineage={"a": "a", "b": "a"})
    # every fit that left "a" or "b" out left both out; "odd" left out alone still trains on both
    assert sum(s == {"odd"} for s in seen) == 4 and sum(s == {"a", "b"} for s in seen) == 2
    assert set(cf.fake_logit) == {"a", "b", "odd"}
    for fam in ("a", "b"):
        scored = np.isfinite(cf.fake_logit[fam])
        assert np.array_equal(scored, (rows.family == fam) & (rows.label == 1))
    plain = cross_fit(rows, _fit, n_groups=2)
    assert np.allclose(cf.fake_logit["odd"], plain.fake_logit["odd"], equal_nan=True)


def test_seen_family_logits_score_each_image_by_a_model_that_trained_on_its_family_but_not_on_it():
    rows = _rows()
    # every image under two conditions: both rows of an image must fall in one fold
    two = Rows(np.concatenate([rows.feats, rows.feats + 0.1]), np.concatenate([rows.keys, rows.keys]),
               np.concatenate([rows.label, rows.label]), np.concatenate([rows.family, rows.family]),
               np.concatenate([rows.source, rows.source]), np.array(["clean"] * len(rows.label) + ["jpeg"] * len(rows.label)))
    fold = image_folds(two.keys, 4)
    n = len(rows.label)
    assert (fold[:n] == fold[n:]).all() and set(fold) == {0, 1, 2, 3}
    trained_on = []

    def fit(x, y, src):
        trained_on.append({tuple(r) for r in x})
        return _fit(x, y, src)

    logit = seen_family_logits(two, fit, n_folds=4)
    assert len(trained_on) == 4 and np.isfinite(logit).all()
    for k in range(4):  # the fold's model saw none of the fold's rows, and every family and source
        held = fold == k
        model = [t for t in trained_on if not any(tuple(r) in t for r in two.feats[held])]
        assert len(model) == 1
    # "odd" is found once trained on, unlike when left out (test above): its new images rank above the reals
    odd = logit[(two.family == "odd")]
    real = logit[two.label == 0]
    assert np.median(odd) > np.percentile(real, 90)
    try:
        image_folds(two.keys, 1)
    except ValueError as e:
        assert "n_folds" in str(e)
    else:
        raise AssertionError("one fold must be refused")

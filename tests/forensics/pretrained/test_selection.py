import numpy as np

from forensics.pretrained.features import FeatureSpec
from forensics.pretrained.probe import balanced_weights, fit_probe
from forensics.metrics import rate_upper_bound
from forensics.pretrained.report_figures import family_table, real_table
from forensics.pretrained.selection import Rows, cross_fit, real_groups


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


def test_fpr_upper_bound():
    assert 0.02 < rate_upper_bound(0, 100) < 0.03  # rule of three
    assert rate_upper_bound(5, 5) == 1.0

import numpy as np
import pytest

from forensics.metrics import binary_metrics, calibration_error, mean_ap, paired_bootstrap_mean_ap


def test_binary_metrics_separable_scores():
    m = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9]))
    assert m["ap"] == 1.0 and m["roc_auc"] == 1.0
    assert m["fpr"] == 0.0 and m["tpr"] == 1.0 and m["accuracy"] == 1.0


def test_calibration_error_is_zero_for_scores_that_match_frequencies():
    # in the 0.2-0.3 bin a quarter of the images are fake, and so on: perfectly calibrated
    labels = np.array([1, 0, 0, 0] + [1, 1, 1, 0])
    scores = np.array([0.25] * 4 + [0.75] * 4)
    c = calibration_error(labels, scores)
    assert c["ece"] == pytest.approx(0.0)
    assert [b["fake_share"] for b in c["bins"]] == [0.25, 0.75]
    assert c["brier"] == pytest.approx(np.mean((scores - labels) ** 2))


def test_calibration_error_of_overconfident_scores():
    labels = np.array([0, 1] * 50)
    c = calibration_error(labels, np.full(100, 0.99))
    assert c["ece"] == pytest.approx(0.49)
    assert c["log_loss"] == pytest.approx(-0.5 * (np.log(0.99) + np.log(0.01)))


def test_calibration_error_weights_set_the_class_prior():
    # 1 fake and 9 reals, all scored 0.5: calibrated only when both classes weigh the same
    labels = np.array([1] + [0] * 9)
    scores = np.full(10, 0.5)
    assert calibration_error(labels, scores)["ece"] == pytest.approx(0.4)
    balanced = np.where(labels == 1, 0.5, 0.5 / 9)
    assert calibration_error(labels, scores, balanced)["ece"] == pytest.approx(0.0)


def test_calibration_error_rejects_bad_input():
    with pytest.raises(ValueError):
        calibration_error(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        calibration_error(np.array([0, 1]), np.array([0.5]))
    with pytest.raises(ValueError):
        calibration_error(np.array([0, 1]), np.array([0.2, 0.8]), np.array([0.0, 0.0]))


def test_rate_upper_bound_matches_the_rule_of_three_and_grows_with_events():
    from forensics.metrics import rate_upper_bound

    assert rate_upper_bound(0, 29) == pytest.approx(1 - 0.05 ** (1 / 29))  # exact for zero events
    assert rate_upper_bound(0, 300) == pytest.approx(3 / 300, rel=0.01)  # the rule of three
    assert rate_upper_bound(0, 29) < rate_upper_bound(1, 29) < rate_upper_bound(2, 29) < 1.0
    assert rate_upper_bound(5, 5) == 1.0
    with pytest.raises(ValueError):
        rate_upper_bound(3, 2)
    with pytest.raises(ValueError):
        rate_upper_bound(0, 0)


def test_balanced_weights_give_each_class_half():
    from forensics.metrics import balanced_weights

    w = balanced_weights(np.array([0, 0, 0, 1]))
    assert w.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 0.5])
    assert balanced_weights(np.array([1, 1])).tolist() == [0.25, 0.25]  # one class: half the weight, on it


def _two_models(seed: int = 1):
    rng = np.random.default_rng(seed)
    reals = {"real:a": rng.normal(0.0, 1.0, 60), "real:b": rng.normal(0.2, 1.0, 40)}
    fakes = {"fake:x": rng.normal(1.0, 1.0, 50), "fake:y": rng.normal(1.5, 1.0, 30)}
    return {**reals, **fakes}, list(reals), list(fakes)


def test_mean_ap_averages_each_fake_set_against_pooled_reals():
    scores, reals, fakes = _two_models()
    real = np.r_[scores["real:a"], scores["real:b"]]
    expect = np.mean([binary_metrics(np.r_[np.zeros(real.size), np.ones(scores[f].size)], np.r_[real, scores[f]])["ap"]
                      for f in fakes])
    assert mean_ap(scores, reals, fakes) == pytest.approx(expect)
    # an index that picks every file once gives the same figure
    assert mean_ap(scores, reals, fakes, {n: np.arange(len(v)) for n, v in scores.items()}) == pytest.approx(expect)


def test_paired_bootstrap_separates_a_better_model_from_noise():
    base, reals, fakes = _two_models()
    better = {n: v + (0.8 if n in fakes else 0.0) for n, v in base.items()}  # fakes pushed away from reals
    sure = paired_bootstrap_mean_ap(base, better, reals, fakes, rounds=200)
    assert sure["difference"] > 0 and sure["low"] > 0 and sure["share_not_higher"] == 0.0
    same = paired_bootstrap_mean_ap(base, dict(base), reals, fakes, rounds=50)
    assert same["difference"] == 0.0 and same["low"] == same["high"] == 0.0 and same["share_not_higher"] == 1.0
    rng = np.random.default_rng(7)
    jitter = {n: v + rng.normal(0, 0.05, len(v)) for n, v in base.items()}  # a tiny, random change
    noisy = paired_bootstrap_mean_ap(base, jitter, reals, fakes, rounds=200)
    assert noisy["low"] < 0 < noisy["high"]


def test_paired_bootstrap_needs_the_same_files():
    base, reals, fakes = _two_models()
    other = {**base, "fake:x": base["fake:x"][:-1]}
    with pytest.raises(ValueError, match="same files"):
        paired_bootstrap_mean_ap(base, other, reals, fakes)

import numpy as np
import pytest

from forensics.aggregate import ScoreRule, aggregate_map, cell_probabilities


def test_aggregations_on_known_map():
    d = np.array([[-2.0, 2.0], [4.0, 4.0]])
    sig = 1 / (1 + np.exp(-d))
    assert aggregate_map(d, "mean_prob") == pytest.approx(sig.mean())
    assert aggregate_map(d, "mean_logit") == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert aggregate_map(d, "vote") == pytest.approx(0.75)
    assert aggregate_map(d, "topk", topk_fraction=0.5) == pytest.approx(sig.ravel()[2:].mean())
    with pytest.raises(ValueError):
        aggregate_map(d, "median")


def test_cell_probabilities_softmax_and_temperature():
    logits = np.stack([np.zeros((2, 2)), np.full((2, 2), 2.0)])
    assert np.allclose(cell_probabilities(logits), 1 / (1 + np.exp(-2)))
    assert np.allclose(cell_probabilities(logits, temperature=2.0), 1 / (1 + np.exp(-1)))


def test_score_rule_parses_applies_and_round_trips_config():
    d = np.array([[-2.0, 2.0], [4.0, 4.0]])
    rule = ScoreRule.parse("topk:0.5")
    assert rule(d) == pytest.approx(aggregate_map(d, "topk", topk_fraction=0.5))
    assert rule.name == "topk:0.5" and "50%" in rule.describe()
    assert ScoreRule.from_config(rule.to_config()) == rule
    assert ScoreRule.parse("mean_logit") == ScoreRule("mean_logit")
    assert ScoreRule.from_config({}) == ScoreRule("mean_prob")


@pytest.mark.parametrize("text, message", [("median", "unknown aggregation"), ("topk:0", "must be in"),
                                           ("topk:1.5", "must be in"), ("topk:x", "aggregation 'topk:x'"),
                                           ("mean_prob:0.5", "only topk takes a fraction")])
def test_score_rule_rejects_bad_spelling(text, message):
    with pytest.raises(ValueError, match=message):
        ScoreRule.parse(text)


def test_score_rule_rescaling_is_monotone_stored_and_cleared():
    """A Platt rescaling maps the aggregated P(fake) through sigmoid(a * logit(p) + b): order (so AP) is
    kept; the config stores it and a rule without one writes null, clearing an old scaling."""
    maps = [np.full((3, 3), v) for v in (-4.0, -1.0, 0.0, 2.0, 7.0)]
    plain = ScoreRule.parse("topk:0.5")
    scaled = plain.with_scaling(0.5, -1.0)
    p = np.array([plain(m) for m in maps])
    q = np.array([scaled(m) for m in maps])
    assert np.allclose(q, 1 / (1 + np.exp(-(0.5 * np.log(p / (1 - p)) - 1.0))))
    assert np.all(np.diff(q) > 0) and scaled.is_rescaled and not plain.is_rescaled
    assert ScoreRule.from_config(scaled.to_config()) == scaled
    assert scaled.to_config()["score_scaling"] == {"method": "platt", "slope": 0.5, "intercept": -1.0}
    config = {**scaled.to_config()}
    config.update(plain.to_config())
    assert config["score_scaling"] is None and ScoreRule.from_config(config) == plain
    assert "Platt-rescaled" in scaled.describe() and scaled.name == "topk:0.5"
    extremes = [scaled(np.full((2, 2), v)) for v in (-80.0, 80.0)]  # saturated cells: no overflow, no NaN
    assert 0.0 <= extremes[0] < 1e-6 and 1 - 1e-6 < extremes[1] <= 1.0
    with pytest.raises(ValueError, match="slope"):
        plain.with_scaling(0.0, 0.0)

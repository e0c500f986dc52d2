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

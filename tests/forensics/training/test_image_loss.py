"""The image-level loss: its aggregated P(fake) matches the scan-time score rule, and its gradient."""
import numpy as np
import pytest
import torch

from forensics.aggregate import ScoreRule
from forensics.training.image_loss import aggregated_fake_probability, image_loss


@pytest.mark.parametrize("rule", ["mean_prob", "mean_logit", "topk:0.5", "topk:0.1"])
def test_aggregated_probability_is_the_scan_time_image_score(rule):
    logits = torch.randn(3, 2, 5, 4, generator=torch.Generator().manual_seed(1)) * 3
    parsed = ScoreRule.parse(rule)
    got = aggregated_fake_probability(logits, parsed).numpy()
    expected = [parsed((m[1] - m[0]).numpy()) for m in logits]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_vote_has_no_gradient_and_is_refused():
    with pytest.raises(ValueError, match="image loss needs one of"):
        aggregated_fake_probability(torch.zeros(1, 2, 2, 2), ScoreRule.parse("vote"))


def test_topk_loss_pushes_only_the_most_fake_cells_of_a_real_crop():
    # one real crop, 4 cells; the two most fake (cells 2 and 3) are those the top-50% rule scores
    fake_logit = torch.tensor([-4.0, -2.0, 1.0, 3.0])
    logits = torch.stack([torch.zeros(4), fake_logit]).view(1, 2, 2, 2).requires_grad_(True)
    loss = image_loss(logits, torch.tensor([0]), ScoreRule.parse("topk:0.5"))
    loss.backward()
    grad_fake = logits.grad[0, 1].flatten()
    assert torch.all(grad_fake[:2] == 0)  # cells outside the top half get no gradient
    assert torch.all(grad_fake[2:] > 0)  # descending the loss lowers the hot cells' fake logits


def test_loss_is_low_for_confident_right_answers_and_high_for_wrong_ones():
    rule = ScoreRule.parse("topk:0.5")
    fake_map = torch.stack([torch.zeros(2, 2), torch.full((2, 2), 6.0)]).unsqueeze(0)
    right = float(image_loss(fake_map, torch.tensor([1]), rule))
    wrong = float(image_loss(fake_map, torch.tensor([0]), rule))
    assert right < 0.01 < 5.0 < wrong

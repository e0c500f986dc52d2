"""Image-level training loss: the cross-entropy of a crop's aggregated P(fake), under the same rule
that turns cell maps into image scores at scan time, so training also optimises the score it is judged by."""
from __future__ import annotations

import torch

from forensics.aggregate import ScoreRule, topk_count

# rules with a gradient: vote counts cells over 0 and has none
DIFFERENTIABLE_RULES = ("mean_prob", "mean_logit", "topk")


def require_differentiable(rule: ScoreRule) -> None:
    """Raise ValueError for a score rule the image loss cannot train through."""
    if rule.method not in DIFFERENTIABLE_RULES:
        raise ValueError(f"image loss needs one of {', '.join(DIFFERENTIABLE_RULES)}, not '{rule.name}'")


def aggregated_fake_probability(logits: torch.Tensor, rule: ScoreRule) -> torch.Tensor:
    """(n, 2, h, w) cell logits -> (n,) image P(fake) under `rule`'s aggregation (its Platt rescaling
    is left out: it is fitted after training and does not change the ranking)."""
    require_differentiable(rule)
    fake_logit = (logits[:, 1] - logits[:, 0]).flatten(1)
    if rule.method == "mean_logit":
        return torch.sigmoid(fake_logit.mean(dim=1))
    p = torch.sigmoid(fake_logit)
    if rule.method == "mean_prob":
        return p.mean(dim=1)
    return p.topk(topk_count(p.shape[1], rule.topk_fraction), dim=1).values.mean(dim=1)


def image_loss(logits: torch.Tensor, labels: torch.Tensor, rule: ScoreRule) -> torch.Tensor:
    """Binary cross-entropy of each crop's aggregated P(fake) against its label (1 = fake), averaged."""
    p = aggregated_fake_probability(logits, rule).clamp(1e-6, 1.0 - 1e-6)
    return torch.nn.functional.binary_cross_entropy(p, labels.to(p.dtype))

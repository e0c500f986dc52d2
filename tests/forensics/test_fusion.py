import pytest
import torch
from torch import nn

from forensics.fusion import fold_batchnorm
from forensics.models import build_model


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("arch", ["resnet18_layer2", "resnet18_layer2_slim", "resnet50_full"])
def test_folding_removes_batchnorm_and_keeps_outputs(arch):
    model = build_model(arch, input_filter="residual" if "layer" in arch else "none")
    _randomise_bn(model)
    model.eval()
    folded = fold_batchnorm(model)
    assert folded is not model
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 0
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 0
    x = torch.randn(2, 3, 80, 96)
    with torch.no_grad():
        want, got = model(x), folded(x)
    assert torch.allclose(want, got, atol=1e-4 * float(want.abs().max()))
    assert type(folded) is type(model)


def test_folding_keeps_original_when_order_is_not_conv_then_bn():
    # the BatchNorm is registered after the conv but normalises the input, before it: folding would be wrong
    class BnFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            return self.conv(self.bn(x))

    model = BnFirst()
    _randomise_bn(model)
    assert fold_batchnorm(model) is model
    assert not model.training


def test_folding_without_batchnorm_returns_the_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert fold_batchnorm(model) is model

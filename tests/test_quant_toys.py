"""Small stand-ins for the registry models (same layer kinds: conv, BN, depthwise, pointwise,
avg pool, linear) and a learnable toy data set, shared by the test_quant_* files; plus a check
that every model here (and the registry's, when present) can be wrapped."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.quant.wrap import QuantConfig, quantize_model


class TinyConv(nn.Module):
    """TF micro_speech's tiny_conv, small: conv 10x8 s2 + ReLU + dropout + dense (NHWC flatten)."""

    def __init__(self, n_labels=12, filters=8, dropout=0.2):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (10, 8), stride=2, padding=(5, 3))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * 25 * 5, n_labels)

    def forward(self, x):
        x = self.drop(torch.relu(self.conv(x)))
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


class DSBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn2(self.pw(F.relu(self.bn1(self.dw(x))))))


class DSCNN(nn.Module):
    """MLPerf Tiny's DS-CNN shape, narrow: conv 10x4 s2 + BN + ReLU, depthwise-separable blocks,
    global average pool, dense."""

    def __init__(self, n_labels=12, c=16, blocks=2, dropout=0.2):
        super().__init__()
        self.conv = nn.Conv2d(1, c, (10, 4), stride=2, padding=(5, 1), bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.blocks = nn.Sequential(*[DSBlock(c) for _ in range(blocks)])
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(c, n_labels)

    def forward(self, x):
        x = self.blocks(self.relu(self.bn(self.conv(x))))
        x = self.drop(x.mean((2, 3)))
        return self.fc(x)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.data.copy_(0.2 * torch.rand(c, generator=g) - 0.1)
    return model.eval()


def toy_split(n: int, seed: int, n_labels: int = 12, noise: float = 1.0):
    """MFCC-shaped [n, 1, 49, 10] features: a smooth template per label, shifted in time,
    scaled, plus noise. Learnable to high accuracy in a few epochs."""
    g = torch.Generator().manual_seed(1234)
    templates = F.avg_pool2d(torch.randn(n_labels, 1, 49, 10, generator=g), (5, 1), 1, (2, 0)) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_labels, (n,), generator=g)
    shift = torch.randint(-4, 5, (n,), generator=g)
    x = torch.stack([torch.roll(templates[c], int(s), dims=1) for c, s in zip(y, shift)])
    x = x * (0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)) + noise * torch.randn(x.shape, generator=g)
    return x, y


def registry_models():
    """The registry's models, when kws.models exists (it is written alongside)."""
    try:
        from kws.models import build_model
    except ImportError:
        return []
    out = []
    for arch in ("tiny_conv", "ds_cnn"):
        try:
            out.append((arch, randomize_bn(build_model(arch, 12, input_shape=(49, 10), dropout=0.2))))
        except Exception:  # noqa: BLE001 - a registry still being written is not our failure
            pass
    return out


def all_models():
    return [("toy_tiny_conv", TinyConv().eval()), ("toy_ds_cnn", randomize_bn(DSCNN()))] + registry_models()


@pytest.mark.parametrize("name, model", all_models(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_model_wraps_and_quantizes_every_conv_and_linear(name, model):
    qm = quantize_model(model, QuantConfig.integer(8))
    n_layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    assert len(qm.layers()) == n_layers
    assert not any(isinstance(m, nn.BatchNorm2d) for m in qm.modules())  # folded
    x = torch.randn(4, 1, 49, 10)
    qm.calibrate([x])
    assert qm(x).shape == (4, 12)

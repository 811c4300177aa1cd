"""The model registry: shapes, TF 'SAME' alignment of the first conv, NHWC flatten, param counts.

References are written out by hand here, independent of kws/models.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.fx as fx
import torch.nn as nn

from kws.errors import ParamsError
from kws.models import REGISTRY, build_model, same_pad, same_pad_1d

SHAPE = (49, 10)
N_LABELS = 12


@pytest.mark.parametrize("arch", sorted(REGISTRY))
def test_output_shape(arch):
    torch.manual_seed(0)
    m = build_model(arch, N_LABELS, SHAPE).eval()
    assert m(torch.randn(3, 1, *SHAPE)).shape == (3, N_LABELS)


@pytest.mark.parametrize("arch", sorted(REGISTRY))
def test_other_feature_shape(arch):
    m = build_model(arch, 5, (40, 13)).eval()
    assert m(torch.randn(2, 1, 40, 13)).shape == (2, 5)


@pytest.mark.parametrize("arch", sorted(REGISTRY))
def test_first_conv_gives_25x5(arch):
    m = build_model(arch, N_LABELS, SHAPE).eval()
    seen = {}
    m.conv.register_forward_hook(lambda mod, i, o: seen.update(out=o.shape))
    m(torch.randn(1, 1, *SHAPE))
    assert tuple(seen["out"][-2:]) == (25, 5)


def test_same_pad_values_match_tf():
    # TF SAME: out = ceil(n/s); total = (out-1)*s + k - n; the smaller half goes first.
    # 10x4 s2 on 49x10: rows (25-1)*2+10-49 = 9 -> 4 top, 5 bottom; cols (5-1)*2+4-10 = 2 -> 1/1.
    assert same_pad((49, 10), (10, 4), (2, 2)) == (1, 1, 4, 5)
    # 10x8 s2 on 49x10: rows 4/5; cols (5-1)*2+8-10 = 6 -> 3/3.
    assert same_pad((49, 10), (10, 8), (2, 2)) == (3, 3, 4, 5)
    assert same_pad_1d(5, 3, 1) == (1, 1)
    assert same_pad_1d(4, 1, 1) == (0, 0)
    assert same_pad_1d(8, 3, 2) == (0, 1)  # out 4: (4-1)*2+3-8 = 1 -> 0 before, 1 after


def test_first_conv_is_aligned_like_tf_same():
    """Output (0, 0) of the ds_cnn first conv must see input rows 0..5 and columns 0..2 with
    kernel taps starting at (4, 1): TF pads 4 rows on top (not 5) and 1 column on the left."""
    torch.manual_seed(1)
    m = build_model("ds_cnn", N_LABELS, SHAPE).eval()
    x = torch.randn(1, 1, *SHAPE)
    out = {}
    m.conv.register_forward_hook(lambda mod, i, o: out.update(y=o))
    m(x)
    w, b = m.conv.weight.detach(), m.conv.bias.detach()
    for (oi, oj) in [(0, 0), (24, 4), (12, 2)]:
        expect = b.clone()
        for ki in range(10):
            for kj in range(4):
                r, c = 2 * oi - 4 + ki, 2 * oj - 1 + kj
                if 0 <= r < 49 and 0 <= c < 10:
                    expect += w[:, 0, ki, kj] * x[0, 0, r, c]
        torch.testing.assert_close(out["y"][0, :, oi, oj], expect, rtol=1e-5, atol=1e-5)


def test_dense_input_is_flattened_nhwc():
    torch.manual_seed(2)
    m = build_model("tiny_conv", N_LABELS, SHAPE).eval()
    seen = {}
    m.relu.register_forward_hook(lambda mod, i, o: seen.update(act=o))
    m.fc.register_forward_hook(lambda mod, i, o: seen.update(fc_in=i[0]))
    m(torch.randn(2, 1, *SHAPE))
    act = seen["act"]  # [2, 8, 25, 5]
    # element (h, w, c) of the NHWC flatten sits at index (h * 5 + w) * 8 + c
    for h, w, c in [(0, 0, 1), (3, 4, 7), (24, 2, 0)]:
        assert seen["fc_in"][1, (h * 5 + w) * 8 + c] == act[1, c, h, w]


def test_param_counts_by_hand():
    tiny = build_model("tiny_conv", N_LABELS, SHAPE)
    # conv 10*8*1*8 + 8 = 648; BN 2*8 (folded into the conv at export); dense 25*5*8*12 + 12
    assert sum(p.numel() for p in tiny.parameters()) == 648 + 16 + 12012
    ds = build_model("ds_cnn", N_LABELS, SHAPE)
    conv1 = 10 * 4 * 1 * 64 + 64
    block = (3 * 3 * 64 + 64) + (64 * 64 + 64) + 2 * (2 * 64)  # dw, pw, two BN (gamma, beta)
    dense = 64 * 12 + 12
    assert sum(p.numel() for p in ds.parameters()) == conv1 + 2 * 64 + 4 * block + dense


def test_ds_cnn_params_match_mlperf_tiny():
    ds = build_model("ds_cnn", N_LABELS, SHAPE)
    params = sum(p.numel() for p in ds.parameters())
    stats = sum(b.numel() for b in ds.buffers() if b.dtype.is_floating_point)
    # MLPerf Tiny KWS reference (Keras): 23,756 trainable, 24,908 total with the BN moving stats.
    assert abs(params - 23756) / 23756 < 0.05
    assert abs(params + stats - 24908) / 24908 < 0.05


def test_registry_models_trace_with_fx():
    """The quantization code rewrites the models through torch.fx: they must trace."""
    for arch in REGISTRY:
        m = build_model(arch, N_LABELS, SHAPE).eval()
        gm = fx.symbolic_trace(m)
        x = torch.randn(2, 1, *SHAPE)
        torch.testing.assert_close(gm(x), m(x))


def test_no_stray_padding_in_convs():
    """The stride-2 first conv must carry no padding of its own (the SAME pad is explicit);
    the stride-1 depthwise convs pad symmetrically by 1 (TF SAME for 3x3)."""
    ds = build_model("ds_cnn", N_LABELS, SHAPE)
    assert ds.conv.padding == (0, 0) and ds.conv.stride == (2, 2)
    for m in ds.modules():
        if isinstance(m, nn.Conv2d) and m.groups > 1:
            assert m.padding == (1, 1) and m.kernel_size == (3, 3)


@pytest.mark.parametrize("bad", [dict(arch="resnet"), dict(n_labels=1),
                                 dict(input_shape=(49,)), dict(dropout=1.0)])
def test_build_model_refuses_bad_arguments(bad):
    kw = dict(arch="ds_cnn", n_labels=12, input_shape=SHAPE, dropout=0.2) | bad
    with pytest.raises(ParamsError):
        build_model(**kw)

"""Adding a layer kind is one module (kws/layers): a kind defined here -- a module class and its
``Kind``, put in the layer table and nowhere else -- is counted, fake-quantized, emulated in
integers and pruned (channels and weights) by the concern modules as they are; without the
table entry each concern refuses it in one line that names it and where to add it."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from kws import layers, profiling
from kws.layers.common import PRODUCER, Counts, Kind, UnknownLayerKind, numel, slice_params, zero_params
from kws.models import flatten_nhwc
from kws.prune import structured as st
from kws.prune import unstructured as un
from kws.quant.integer import agreement
from kws.quant.wrap import QuantConfig, quantize_model
from test_quant_toys import randomize_bn, toy_split

SHAPE = (49, 10)


def mix(x, w, b):
    y = torch.einsum("oc,nchw->nohw", w, x)
    return y if b is None else y + b[:, None, None]


class ChannelMix(nn.Module):
    """A 1x1 convolution written as a matrix over channels (weight [out, in], bias [out]): a
    layer that is not in torch.nn, so no concern module can know it."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / cin ** 0.5)
        self.bias = nn.Parameter(0.1 * torch.randn(cout))

    def forward(self, x):
        return mix(x, self.weight, self.bias)


class MixKind(Kind):
    """Everything the concerns need about ChannelMix: the whole of "adding a layer kind"."""

    name = "mix"
    weighted = True  # QuantLayer; BatchNorm folds into it; unstructured pruning masks it

    def op(self, m):
        return "CONV_2D"  # deployed as a 1x1 conv

    def counts(self, m, in_shape, out_shape):
        return Counts(m.weight.numel() + m.bias.numel(), numel(out_shape) * m.weight.shape[1],
                      numel(out_shape))

    def forward(self, m, x, w, b):
        return mix(x, w, b)

    def channel_role(self, m):
        return PRODUCER

    def keep_outputs(self, m, idx):
        slice_params(m, idx)
        return m

    def zero_outputs(self, m, drop):
        zero_params(m, drop)

    def keep_inputs(self, m, idx, channels, hw):
        m.weight = nn.Parameter(m.weight[:, idx].clone())
        return m


class Net(nn.Module):
    """conv 3x3 s2 (25x5x8) + BN + ReLU, ChannelMix 8 -> 6 + BN + ReLU, average pool, dense."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.relu = nn.Conv2d(1, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU()
        self.mix, self.mix_bn, self.mix_relu = ChannelMix(8, 6), nn.BatchNorm2d(6), nn.ReLU()
        self.pool = nn.AvgPool2d((25, 5))
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.relu(self.bn(self.conv(x)))
        x = self.mix_relu(self.mix_bn(self.mix(x)))
        return self.fc(flatten_nhwc(self.pool(x)))


def net(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    return randomize_bn(Net())


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(layers.TABLE, ChannelMix, MixKind())


def test_counting_picks_the_kind_up(registered):
    p = profiling.profile_model(net(), SHAPE)
    assert p["ops"] == ["CONV_2D", "CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"]
    row = {r["name"]: r for r in p["layers"]}["mix"]
    assert row["fused"] == "mix_bn (folded); mix_relu (relu fused)"
    # conv 8 x 125 x 9; mix 6 x 125 x 8; pool 6 x 125; fc 6 x 4
    assert (row["macs"], row["bias_adds"]) == (6000, 750)
    assert p["macs"] == 9000 + 6000 + 750 + 24
    assert p["macs_training_graph"] == p["macs"] + 8 * 125 + 6 * 125  # the two BatchNorms
    assert p["params_deployed"] == (72 + 8) + (48 + 6) + (24 + 4)
    assert p["params"] == p["params_deployed"] + 2 * 8 + 2 * 6
    assert p["flash_bytes"]["int8_weights"] == 72 + 48 + 24


@pytest.mark.parametrize("bits, scheme, per_channel", [(8, "symmetric", True),
                                                      (4, "asymmetric", False)])
def test_quantization_and_integer_emulation_pick_the_kind_up(registered, bits, scheme,
                                                             per_channel):
    m = net()
    x, _ = toy_split(48, seed=1)
    qm = quantize_model(m, QuantConfig.integer(bits, scheme, per_channel=per_channel))
    assert list(qm.layers()) == ["conv", "mix", "fc"]
    assert list(qm.act_quants()) == ["quant_input", "quant_conv", "quant_mix", "quant_fc",
                                     "quant_in_fc"]  # after the ReLU; before the dense
    assert not any(isinstance(q, nn.BatchNorm2d) for q in qm.modules())  # mix_bn folded
    with torch.no_grad():
        torch.testing.assert_close(qm.set_mode("float")(x), m(x), rtol=1e-5, atol=1e-5)
    qm.set_mode("quant").calibrate([x[:24], x[24:]])
    a = agreement(qm, x)
    assert a["max_abs_lsb"] <= 1 and a["output_codes_equal"] >= 0.99


def test_channel_pruning_picks_the_kind_up(registered):
    m = net()
    groups = st.channel_groups(m, SHAPE)
    assert [(g.producer, g.channels, g.consumer, g.consumer_kind) for g in groups] == [
        ("conv", 8, "mix", "mix"), ("mix", 6, "fc", "linear")]
    assert groups[1].bn_of == {"mix": "mix_bn"}
    # ranked as deployed: the BatchNorm's scale folded into the mix filters
    bn = m.mix_bn
    folded = m.mix.weight * (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None]
    torch.testing.assert_close(st.folded_filters(m, groups[1]), folded.detach())
    keep = {"conv": [0, 2, 3, 7], "mix": [1, 4]}
    small, zeroed = st.remove_channels(m, SHAPE, keep), st.zero_channels(m, SHAPE, keep)
    assert small.mix.weight.shape == (2, 4) and small.fc.weight.shape == (4, 2)
    x = toy_split(8, seed=2)[0]
    with torch.no_grad():
        torch.testing.assert_close(small(x), zeroed(x), rtol=0, atol=1e-5)
    assert profiling.profile_model(small, SHAPE)["macs"] == 4 * 125 * 9 + 2 * 125 * 4 + 2 * 125 + 8


def test_unstructured_pruning_picks_the_kind_up(registered):
    m = net()
    assert [type(w).__name__ for w, _ in un.prunable(m)] == ["Conv2d", "ChannelMix", "Linear"]
    stats = un.sparsity_stats(un.magnitude_prune(m, 0.5))
    assert stats["weights"] == 72 + 48 + 24 and stats["zero_weights"] == 72


@pytest.mark.parametrize("concern", ["counting", "quantization", "channel pruning",
                                     "unstructured pruning"])
def test_a_kind_the_table_lacks_is_one_line_naming_it(concern):
    run = {"counting": lambda m: profiling.profile_model(m, SHAPE),
           "quantization": lambda m: quantize_model(m, QuantConfig.integer(8)),
           "channel pruning": lambda m: st.channel_groups(m, SHAPE),
           "unstructured pruning": un.prunable}[concern]
    with pytest.raises(UnknownLayerKind) as e:
        run(net())
    msg = str(e.value)
    assert "\n" not in msg and "layer mix: ChannelMix" in msg and "kws/layers/" in msg


def test_every_registry_layer_has_a_kind():
    from kws.models import REGISTRY, build_model

    for arch in REGISTRY:
        kinds = {type(k).__name__ for _, _, k in layers.named_layers(build_model(arch, 12, SHAPE))}
        assert kinds <= {"Conv", "BatchNorm", "ReLU", "Dropout", "AvgPool", "Linear"}

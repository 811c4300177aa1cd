"""Hand-counted MACs, params, flash and peak RAM against kws/profiling.py; literature figures.

Every expected number is worked out by hand in the test (the arithmetic is written out).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from kws import profiling
from kws.models import build_model, flatten_nhwc

SHAPE = (49, 10)


def counts_of(m: nn.Module, in_shape):
    """Run ``m`` once to get the output shape, then count."""
    with torch.no_grad():
        out = m.eval()(torch.zeros(in_shape))
    return profiling.module_counts(m, tuple(in_shape), tuple(out.shape)), tuple(out.shape)


# --- per-layer counts -------------------------------------------------------------------------
def test_linear():
    c, _ = counts_of(nn.Linear(7, 5), (1, 7))
    assert (c.params, c.macs, c.bias_adds, c.flops) == (7 * 5 + 5, 35, 5, 2 * 35 + 5)
    c, _ = counts_of(nn.Linear(7, 5, bias=False), (2, 3, 7))  # 6 rows
    assert (c.params, c.macs, c.bias_adds, c.flops) == (35, 6 * 35, 0, 420)


def test_conv2d_with_padding_and_stride():
    conv = nn.Conv2d(3, 4, (3, 5), stride=(2, 1), padding=(1, 2))
    c, out = counts_of(conv, (1, 3, 9, 8))
    # H: floor((9 + 2 - 3) / 2) + 1 = 5; W: (8 + 4 - 5) / 1 + 1 = 8
    assert out == (1, 4, 5, 8)
    assert c.macs == 4 * 5 * 8 * (3 * 3 * 5)  # = 7200
    assert c.macs == 7200
    assert c.params == 4 * 3 * 3 * 5 + 4
    assert c.bias_adds == 4 * 5 * 8 and c.flops == 2 * 7200 + 160


def test_depthwise_conv():
    dw = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
    c, out = counts_of(dw, (1, 6, 10, 4))
    assert out == (1, 6, 10, 4)
    assert (c.params, c.macs, c.bias_adds) == (6 * 9, 6 * 10 * 4 * 9, 0)  # 54, 2160


def test_grouped_conv():
    g = nn.Conv2d(4, 6, 1, groups=2)
    c, _ = counts_of(g, (1, 4, 3, 3))
    assert c.macs == 6 * 3 * 3 * 2  # each output sees 4/2 input channels


def test_average_pool():
    c, out = counts_of(nn.AvgPool2d((25, 5)), (1, 64, 25, 5))
    assert out == (1, 64, 1, 1)
    assert (c.params, c.macs, c.bias_adds) == (0, 64 * 125, 0)  # 8000
    c, out = counts_of(nn.AvgPool2d(2), (1, 3, 4, 6))
    assert out == (1, 3, 2, 3) and c.macs == 3 * 2 * 3 * 4


def test_batchnorm():
    c, _ = counts_of(nn.BatchNorm2d(8), (1, 8, 5, 5))
    assert (c.params, c.macs, c.bias_adds) == (16, 8 * 25, 0)


def test_relu_and_dropout_cost_nothing():
    for m in (nn.ReLU(), nn.Dropout(0.5), nn.Flatten()):
        c, _ = counts_of(m, (1, 3, 4, 4))
        assert (c.params, c.macs, c.flops) == (0, 0, 0)


# --- liveness --------------------------------------------------------------------------------
def test_peak_memory_on_a_hand_made_graph():
    # a(100) -op0-> b(50) -op1-> c(30); op2 reads a and c (a skip connection) -> d(20)
    sizes = {"a": 100, "b": 50, "c": 30, "d": 20}
    steps = [(["a"], ["b"]), (["b"], ["c"]), (["a", "c"], ["d"])]
    peak, at, live = profiling.peak_memory(sizes, steps, ["a"], ["d"])
    # step 0: a + b = 150; step 1: a (still needed) + b + c = 180; step 2: a + c + d = 150
    assert live == [150, 180, 150]
    assert (peak, at) == (180, 1)


def test_peak_memory_chain_frees_early_tensors():
    sizes = {"x": 10, "h1": 40, "h2": 40, "h3": 5}
    steps = [(["x"], ["h1"]), (["h1"], ["h2"]), (["h2"], ["h3"])]
    peak, at, live = profiling.peak_memory(sizes, steps, ["x"], ["h3"])
    assert live == [50, 80, 45] and peak == 80 and at == 1


class Small(nn.Module):
    """conv 1->4 3x3 SAME + BN + ReLU, conv 4->2 3x3 SAME (no bias) + ReLU, NHWC flatten, dense."""

    def __init__(self):
        super().__init__()
        self.c1, self.bn1, self.r1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        self.c2, self.r2 = nn.Conv2d(4, 2, 3, padding=1, bias=False), nn.ReLU()
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        x = self.r1(self.bn1(self.c1(x)))
        x = self.drop(self.r2(self.c2(x)))
        return self.fc(flatten_nhwc(x))


def test_profile_of_a_small_model_by_hand():
    p = profiling.profile_model(Small(), (6, 6))
    # deployed ops: c1 (bn folded, relu fused), c2 (relu fused), fc
    assert p["ops"] == ["CONV_2D", "CONV_2D", "FULLY_CONNECTED"]
    # tensors (elements): input 36, c1 out 4*36 = 144, c2 out 2*36 = 72, fc out 3
    # live: c1: 36 + 144 = 180; c2: 144 + 72 = 216; fc: 72 + 3 = 75
    assert p["peak_ram_bytes"] == {"int8": 216, "fp32": 4 * 216}
    assert [row["live_bytes_int8"] for row in p["layers"]] == [180, 216, 75]
    # MACs: c1 4*36*9 = 1296; c2 2*36*(4*9) = 2592; fc 72*3 = 216
    assert p["macs"] == 1296 + 2592 + 216
    # training graph adds the BN: 144 MACs
    assert p["macs_training_graph"] == p["macs"] + 144
    # bias adds: c1 144, c2 none (no bias, no BN to fold), fc 3
    assert p["flops"] == 2 * (1296 + 2592 + 216) + 144 + 3
    # params: training graph c1 36 + 4, BN 8, c2 72, fc 216 + 3
    assert p["params"] == 40 + 8 + 72 + 219
    # deployed: the BN folds into c1's bias
    assert p["params_deployed"] == 40 + 72 + 219
    # flash int8: weights 36 + 72 + 216 = 324 B; int32 biases (4 + 3) * 4 = 28 B;
    # per-channel qparams (4 + 2 + 3 channels) * 8 = 72 B; activation tensors 4 * 8 = 32 B
    assert p["flash_bytes"]["int8"] == 324 + 28 + 72 + 32
    assert p["flash_bytes"]["fp32"] == 4 * (324 + 7)
    # percent of the nano33ble (1 MB flash, 256 KB RAM)
    assert p["board_percent"]["ram_int8"] == pytest.approx(100 * 216 / 262144)
    assert p["board"]["flash_bytes"] == 1024 * 1024 and p["board"]["ram_bytes"] == 256 * 1024


def test_ds_cnn_counts_by_hand():
    p = profiling.profile_model(build_model("ds_cnn", 12, SHAPE), SHAPE)
    conv1 = 25 * 5 * 64 * 10 * 4  # 320,000
    dw = 25 * 5 * 64 * 9  # 72,000
    pw = 25 * 5 * 64 * 64  # 512,000
    pool = 64 * 125  # 8,000
    fc = 64 * 12
    assert p["macs"] == conv1 + 4 * (dw + pw) + pool + fc
    # int8 peak: a 25x5x64 tensor in and one out of each block op: 2 * 8000
    assert p["peak_ram_bytes"]["int8"] == 2 * 8000
    assert p["peak_ram_bytes"]["fp32"] == 4 * 2 * 8000


def test_tiny_conv_counts_by_hand():
    p = profiling.profile_model(build_model("tiny_conv", 12, SHAPE), SHAPE)
    assert p["macs"] == 25 * 5 * 8 * 10 * 8 + 1000 * 12
    assert p["peak_ram_bytes"]["int8"] == 490 + 1000  # input + conv output


# --- published figures ------------------------------------------------------------------------
def test_ds_cnn_within_5_percent_of_mlperf_tiny():
    p = profiling.profile_model(build_model("ds_cnn", 12, SHAPE), SHAPE)
    # MLPerf Tiny KWS DS-CNN at 49x10, 12 labels: 23,756 parameters, ~2.7 M MACs, "5 MOPS".
    assert abs(p["params"] - 23756) / 23756 <= 0.05
    assert abs(p["macs"] - 2.7e6) / 2.7e6 <= 0.05
    assert round(p["flops"] / 1e6) == 5  # the NXP figure has one significant digit
    lit = profiling.literature()["models"]["ds_cnn"]
    assert abs(p["params"] - lit["params"]) / lit["params"] <= 0.05
    assert abs(p["macs"] - lit["macs"]) / lit["macs"] <= 0.05
    assert all(s["url"].startswith("https://") for s in lit["sources"])


# --- latency ----------------------------------------------------------------------------------
def test_percentiles_match_numpy():
    xs = sorted(np.random.default_rng(0).random(37).tolist())
    for q in (0.1, 0.25, 0.5, 0.9):
        assert profiling._percentile(xs, q) == pytest.approx(np.percentile(xs, 100 * q))


def test_measure_latency_reports_threads_and_restores_them():
    before = torch.get_num_threads()
    r = profiling.measure_latency(Small(), (6, 6), runs=7, warmup=2, num_threads=1)
    assert torch.get_num_threads() == before
    assert r["runs"] == 7 and r["num_threads"] == 1 and r["device"] == "cpu"
    assert r["min_ms"] <= r["p10_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["max_ms"]
    assert r["iqr_ms"] >= 0 and math.isfinite(r["median_ms"])


def test_models_table_row():
    lit = profiling.literature()
    p = profiling.profile_model(build_model("ds_cnn", 12, SHAPE), SHAPE)
    row = profiling.compare_row("ds_cnn", p, None, lit)
    assert row["lit_params"] == 23756 and row["params"] == 23756
    assert json.dumps(row)  # plain values only

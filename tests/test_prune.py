"""Pruning (kws/prune): channel removal against its masked twin, parameter and FLOP counts by
hand, channel ranking by hand, unstructured sparsity as asked, the pruned model through int8
conversion (LiteRT) and the firmware's Cortex-M4 emulator, and the prune stage end to end
(outputs, resume, one point recomputed when one param changes)."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from kws import checkpoint, training
from kws.data import feature_files
from kws.config import with_overrides
from kws.errors import KwsError, ParamsError
from kws.models import build_model
from kws.profiling import profile_model
from kws.prune import structured as st
from kws.prune import unstructured as un
from test_quant_toys import randomize_bn, toy_split

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (49, 10)
LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off",
          "stop", "go"]


def model(arch: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_bn(build_model(arch, 12, SHAPE, dropout=0.2)).eval()


def random_plan(m: nn.Module, seed: int) -> dict[str, list[int]]:
    """A different random subset of channels for every group."""
    g = torch.Generator().manual_seed(seed)
    plan = {}
    for grp in st.channel_groups(m, SHAPE):
        k = int(torch.randint(1, grp.channels, (1,), generator=g))
        plan[grp.producer] = sorted(torch.randperm(grp.channels, generator=g)[:k].tolist())
    return plan


# --- structured: physical removal == zeroed channels ---------------------------------------------
@pytest.mark.parametrize("arch", ["ds_cnn", "tiny_conv"])
@pytest.mark.parametrize("seed", [0, 1])
def test_removing_zeroed_channels_keeps_the_outputs(arch, seed):
    m = model(arch, seed)
    plan = random_plan(m, seed)
    x = torch.randn(8, 1, *SHAPE, generator=torch.Generator().manual_seed(seed))
    zeroed = st.zero_channels(m, SHAPE, plan)
    small = st.remove_channels(m, SHAPE, plan)
    with torch.no_grad():
        y_zero, y_small, y_orig = zeroed(x), small(x), m(x)
    torch.testing.assert_close(y_small, y_zero, rtol=0, atol=1e-5)
    assert (y_orig - y_zero).abs().max() > 1e-3  # the zeroed channels did matter
    # really smaller: every producer has the planned number of output channels
    for name, keep in plan.items():
        assert small.get_submodule(name).weight.shape[0] == len(keep)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in m.parameters())
    # and the original model is untouched
    with torch.no_grad():
        torch.testing.assert_close(m(x), y_orig, rtol=0, atol=0)


def test_channel_groups_follow_depthwise_chains_and_the_nhwc_flatten():
    groups = {g.producer: g for g in st.channel_groups(model("ds_cnn"), SHAPE)}
    assert list(groups) == ["conv", "blocks.0.pw", "blocks.1.pw", "blocks.2.pw", "blocks.3.pw"]
    g = groups["conv"]
    assert g.depthwise == ["blocks.0.dw"] and g.consumer == "blocks.0.pw"
    assert g.bn_of == {"conv": "bn", "blocks.0.dw": "blocks.0.dw_bn"}
    assert groups["blocks.3.pw"].consumer == "fc" and groups["blocks.3.pw"].depthwise == []
    (t,) = st.channel_groups(model("tiny_conv"), SHAPE)
    assert (t.producer, t.consumer, t.consumer_kind, t.consumer_hw) == ("conv", "fc", "linear", (25, 5))


def test_dense_columns_are_taken_in_nhwc_order():
    """Keeping channel 2 of 8 on a 25x5 map keeps fc columns (h*5 + w)*8 + 2."""
    m = model("tiny_conv")
    small = st.remove_channels(m, SHAPE, {"conv": [2]})
    cols = [(h * 5 + w) * 8 + 2 for h in range(25) for w in range(5)]
    torch.testing.assert_close(small.fc.weight, m.fc.weight[:, cols], rtol=0, atol=0)


# --- structured: counts by hand ------------------------------------------------------------------
def ds_cnn_by_hand(c: int, n: int = 12) -> dict:
    """ds_cnn with c channels everywhere on 49x10 (25x5 after the stride-2 conv)."""
    hw = 25 * 5
    params = (40 * c + c) + 2 * c + 4 * ((9 * c + c) + 2 * c + (c * c + c) + 2 * c) + (c * n + n)
    macs = {"conv": hw * c * 40, "dw": hw * c * 9, "pw": hw * c * c, "pool": hw * c, "fc": c * n}
    flops = {"conv": 2 * macs["conv"] + hw * c, "dw": 2 * macs["dw"] + hw * c,
             "pw": 2 * macs["pw"] + hw * c}
    total_macs = macs["conv"] + 4 * (macs["dw"] + macs["pw"]) + macs["pool"] + macs["fc"]
    return {"params": params, "macs": macs, "flops": flops, "total_macs": total_macs}


@pytest.mark.parametrize("ratio,channels", [(0.5, 32), (0.875, 8), (0.25, 48)])
def test_ds_cnn_params_and_flops_after_pruning_by_hand(ratio, channels):
    m = model("ds_cnn")
    small, plan = st.prune_structured(m, SHAPE, ratio, "l2")
    assert all(len(v) == channels for v in plan.values())
    hand = ds_cnn_by_hand(channels)
    prof = profile_model(small, SHAPE)
    assert prof["params"] == hand["params"] == sum(p.numel() for p in small.parameters())
    assert prof["macs"] == hand["total_macs"]
    layers = {r["name"]: r for r in prof["layers"]}
    assert layers["conv"]["macs"] == hand["macs"]["conv"]
    assert layers["conv"]["flops"] == hand["flops"]["conv"]
    for b in range(4):
        assert layers[f"blocks.{b}.dw"]["flops"] == hand["flops"]["dw"]
        assert layers[f"blocks.{b}.pw"]["flops"] == hand["flops"]["pw"]
    assert layers["fc"]["macs"] == hand["macs"]["fc"]


def test_fifty_percent_halves_the_conv_flops_of_every_pruned_layer():
    m = model("ds_cnn")
    before = {r["name"]: r for r in profile_model(m, SHAPE)["layers"]}
    after = {r["name"]: r for r in profile_model(st.prune_structured(m, SHAPE, 0.5)[0],
                                                 SHAPE)["layers"]}
    # one side halved (first conv: 1 input channel; depthwise: one filter per channel)
    for name in ["conv"] + [f"blocks.{b}.dw" for b in range(4)]:
        assert 2 * after[name]["flops"] == before[name]["flops"]
    # both sides halved (pointwise: inputs and outputs): a quarter of the MACs
    for b in range(4):
        assert 4 * after[f"blocks.{b}.pw"]["macs"] == before[f"blocks.{b}.pw"]["macs"]
    t = model("tiny_conv")
    t_before = profile_model(t, SHAPE)["layers"][0]
    t_after = profile_model(st.prune_structured(t, SHAPE, 0.5)[0], SHAPE)["layers"][0]
    assert 2 * t_after["flops"] == t_before["flops"] == 2 * (125 * 4 * 80 * 2 + 125 * 4)


def test_tiny_conv_params_by_hand():
    small, _ = st.prune_structured(model("tiny_conv"), SHAPE, 0.5)  # 8 -> 4 filters of 10x8
    # conv weights + bias, BatchNorm scale + shift, dense weights + bias
    assert sum(p.numel() for p in small.parameters()) == (80 * 4 + 4) + 2 * 4 + (125 * 4 * 12 + 12)


# --- structured: ranking by hand -----------------------------------------------------------------
def test_each_norm_drops_the_channels_it_should():
    """Channel 0: one weight of 3 (L1 3, L2 3, Linf 3). Channel 1: 80 weights of 0.1 (L1 8,
    L2 0.894, Linf 0.1). Channels 2..7: 80 weights of 0.2 (L1 16, L2 1.79, Linf 0.2)."""
    m = model("tiny_conv")
    with torch.no_grad():
        for bn in [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]:
            bn.weight.fill_(1.0)  # the same scale on every channel: the raw filters decide
            bn.running_var.fill_(1.0 - bn.eps)
        w = torch.zeros_like(m.conv.weight)
        w[0, 0, 0, 0] = 3.0
        w[1] = 0.1
        w[2:] = 0.2
        m.conv.weight.copy_(w)
    keep = lambda norm: st.plan(m, SHAPE, 0.125, norm)["conv"]  # drops round(0.125 * 8) = 1
    assert keep("l1") == [1, 2, 3, 4, 5, 6, 7]      # L1: channel 0 (3) is smallest
    assert keep("l2") == [0, 2, 3, 4, 5, 6, 7]      # L2: channel 1 (0.894)
    assert keep("linf") == [0, 2, 3, 4, 5, 6, 7]    # Linf: channel 1 (0.1)
    assert st.plan(m, SHAPE, 0.75, "linf")["conv"] == [0, 2]  # ties: the lower index stays


def test_ranking_folds_the_batchnorm_scale():
    m = model("ds_cnn")
    with torch.no_grad():
        m.conv.weight.fill_(1.0)
        m.bn.running_var.fill_(1.0)
        m.bn.weight.fill_(1.0)
        m.bn.weight[5] = 10.0   # largest deployed filter
        m.bn.weight[9] = -20.0  # the sign does not matter for a norm
    assert st.plan(m, SHAPE, 1 - 2 / 64, "l1")["conv"] == [5, 9]


def test_bad_plans_and_layers_are_refused_in_one_line():
    m = model("ds_cnn")
    with pytest.raises(KwsError, match="not prunable"):
        st.remove_channels(m, SHAPE, {"fc": [0]})
    with pytest.raises(KwsError, match="distinct indices"):
        st.remove_channels(m, SHAPE, {"conv": [0, 0]})
    with pytest.raises(KwsError, match="must be in"):
        st.plan(m, SHAPE, 1.0)
    lstm = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Upsample(scale_factor=2), nn.Conv2d(4, 2, 3))
    with pytest.raises(KwsError, match="Upsample.*not supported"):
        st.channel_groups(lstm, SHAPE)


def test_pruned_model_trains():
    x, y = toy_split(120, 0)
    split = feature_files.Split(x, y)
    small, _ = st.prune_structured(model("ds_cnn"), SHAPE, 0.75)
    before = [p.detach().clone() for p in small.parameters()]
    res = training.train_model(small, split, split, epochs=1, batch_size=40, lr=3e-3,
                               num_threads=1, progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(before, res.model.parameters()))


# --- unstructured --------------------------------------------------------------------------------
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9, 0.98])
def test_sparsity_achieved_equals_sparsity_asked(sparsity):
    m = model("ds_cnn")
    pruned = un.magnitude_prune(m, sparsity)
    weights = [mod.weight for mod, _ in un.prunable(pruned)]
    n = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert n == 22016  # conv/dense weights of ds_cnn (23,756 minus biases and BatchNorm)
    assert zeros == round(sparsity * n)
    stats = un.sparsity_stats(pruned)
    assert stats["zero_weights"] == zeros and stats["weight_sparsity"] == zeros / n
    assert stats["params"] == 23756 and stats["nonzero_params"] == 23756 - zeros
    # global magnitude: every removed weight is no larger than every kept one
    orig = torch.cat([mod.weight.detach().flatten() for mod, _ in un.prunable(m)]).abs()
    kept = torch.cat([w.detach().flatten() for w in weights]) != 0
    assert orig[~kept].max() <= orig[kept].min()
    # biases and BatchNorm untouched; the original model untouched
    torch.testing.assert_close(pruned.bn.weight, m.bn.weight, rtol=0, atol=0)
    assert un.sparsity_stats(m)["zero_weights"] == 0


def test_masks_hold_through_fine_tuning_and_make_permanent():
    x, y = toy_split(120, 0)
    split = feature_files.Split(x, y)
    pruned = un.magnitude_prune(model("tiny_conv"), 0.8)
    zero_before = [(mod.weight == 0).clone() for mod, _ in un.prunable(pruned)]
    training.train_model(pruned, split, split, epochs=1, batch_size=40, lr=1e-2, num_threads=1,
                         progress=False)
    un.make_permanent(pruned)
    for (mod, _), z in zip(un.prunable(pruned), zero_before):
        assert not hasattr(mod, "weight_mask")
        assert bool((mod.weight[z] == 0).all())
    assert un.sparsity_stats(pruned)["weight_sparsity"] >= 0.8 - 1e-9


# --- params --------------------------------------------------------------------------------------
@pytest.mark.parametrize("section,needle", [
    ({"unstructured": {"sparsities": [0.5, 1.0]}}, "prune.unstructured.sparsities"),
    ({"structured": {"ratios": [0.5, 0.5]}}, "ratios must not repeat"),
    ({"structured": {"norms": ["l3"]}}, "prune.structured.norms.0"),
    ({"structured": {"convert": False}}, "needs prune.structured.convert: true"),
])
def test_bad_prune_params_give_one_line(section, needle):
    with pytest.raises(ParamsError) as e:
        with_overrides({"prune": section})
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_firmware_code_is_a_clear_error(monkeypatch, tmp_path):
    from kws.prune import run as prun

    monkeypatch.setitem(sys.modules, "kws.firmware.measure", None)  # import fails
    with pytest.raises(KwsError, match="firmware code is missing.*mcu: false"):
        prun.mcu_figures(tmp_path / "m.tflite", tmp_path / "fw")


# --- int8 conversion and the firmware engine ---------------------------------------------------------
def test_pruned_model_converts_to_int8_and_runs_bit_exact_in_the_firmware(tmp_path):
    pytest.importorskip("onnx2tf")
    pytest.importorskip("ai_edge_litert")
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi)")
    from kws.export import interpreters as interp
    from kws.export.pipeline import convert_model
    from kws.firmware.codegen import write_sources
    from kws.firmware.emulator import Harness
    from kws.firmware.toolchain import build_m4

    small, _ = st.prune_structured(model("ds_cnn"), SHAPE, 0.75, "linf")  # 16 channels
    calib = toy_split(64, 3)[0][:, 0].numpy()
    conv = convert_model(small, SHAPE, calib, tmp_path / "m.tflite", tmp_path / "m.onnx")
    assert not {"TRANSPOSE", "PAD"} & set(conv.ops)
    assert conv.ops.count("DEPTHWISE_CONV_2D") == 4
    # the int8 model follows the float one (LiteRT, dequantized logits)
    x = toy_split(16, 4)[0][:, 0].numpy()
    with torch.no_grad():
        ref = small(torch.from_numpy(x)[:, None]).numpy()
    q_out = interp.output_qparams(conv.tflite)
    litert = interp.run_litert(conv.tflite, x)
    assert (litert.argmax(1) == ref.argmax(1)).mean() >= 0.8
    # the firmware (generated C, Cortex-M4 build, emulator) gives LiteRT's int8 outputs
    write_sources(conv.tflite, tmp_path / "src", None, None, strict=False)
    h = Harness(build_m4(tmp_path / "src", tmp_path / "kws.elf"))
    q_in = interp.quantize(x[:3, :, :, None], interp.input_qparams(conv.tflite))
    for i in range(3):
        job = h.run_features(q_in[i].reshape(-1))
        np.testing.assert_array_equal(job.logits, litert[i])
        assert job.cycles["network"] > 0
    assert q_out.scale > 0


# --- the stage end to end ----------------------------------------------------------------------
def load_stage():
    spec = importlib.util.spec_from_file_location("stage_prune", ROOT / "stages" / "prune.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("prune")
    feats = d / "features"
    feats.mkdir()
    for split, n, seed in (("train", 240, 0), ("validation", 96, 1), ("test", 96, 2)):
        x, y = toy_split(n, seed, noise=0.5)
        np.savez(feats / f"{split}.npz", x=x[:, 0].numpy(), y=y.numpy(),
                 path=np.array([f"{split}/{i}.wav" for i in range(n)]))
    (feats / "labels.json").write_text(json.dumps({"labels": LABELS, "features": {}}))
    torch.manual_seed(0)
    m = build_model("tiny_conv", len(LABELS))
    tr = feature_files.load_features(feats)
    training.train_model(m, tr.splits["train"], tr.splits["validation"], epochs=3,
                         batch_size=40, lr=3e-3, num_threads=1, progress=False)
    checkpoint.save(d / "model.pt", m, arch="tiny_conv", labels=LABELS,
                             input_shape=SHAPE, features={}, model_params={"dropout": 0.2})
    return d


def write_params(d: Path, sparsities, mcu: bool) -> Path:
    raw = {"prune": {"unstructured": {"sparsities": sparsities},
                     "structured": {"ratios": [0.5], "norms": ["l1", "linf"], "convert": mcu,
                                    "mcu": mcu},
                     "finetune": {"epochs": 1, "batch_size": 40},
                     "latency_runs": 10, "warmup_runs": 1, "workers": 1, "device": "cpu"},
           "convert": {"calibration_samples": 64}}
    with_overrides(raw)
    p = d / "params.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def run_stage(d: Path, params: Path, capsys) -> tuple[dict, dict, str]:
    load_stage().main(["--params", str(params), "--model", str(d / "model.pt"),
                       "--features", str(d / "features"), "--reports", str(d / "reports"),
                       "--cache", str(d / "cache"), "--no-progress"])
    out = capsys.readouterr().out
    return (json.loads((d / "reports" / "unstructured.json").read_text()),
            json.loads((d / "reports" / "structured.json").read_text()), out)


def test_prune_stage_writes_reports_and_resumes(workdir, capsys):
    have_fw = shutil.which("arm-none-eabi-gcc") is not None
    un_rep, st_rep, out = run_stage(workdir, write_params(workdir, [0.5, 0.9], have_fw), capsys)
    assert [p["sparsity"] for p in un_rep["points"]] == [0.5, 0.9]
    for p in un_rep["points"]:
        assert p["weight_sparsity"] == pytest.approx(p["sparsity"], abs=1e-3)
        assert p["val_accuracy_finetuned"] >= p["val_accuracy_pruned"]
    assert [(p["norm"], p["ratio"]) for p in st_rep["points"]] == [("l1", 0.5), ("linf", 0.5)]
    base = st_rep["baseline"]
    for p in st_rep["points"]:
        assert p["channels"] == {"conv": 4}
        assert p["params"] == (80 * 4 + 4) + 2 * 4 + (125 * 4 * 12 + 12) < base["params"]
        # conv 4 x 25x5 outputs x 80 MACs (+ bias) and fc 500 x 12 (+ bias), by hand
        assert p["flops"] == (2 * 4 * 125 * 80 + 4 * 125) + (2 * 500 * 12 + 12)
        assert p["val_accuracy_finetuned"] >= p["val_accuracy_pruned"]
        if have_fw:
            assert 0 < p["mcu"]["network_cycles"] < base["mcu"]["network_cycles"]
            assert p["mcu"]["flash_bytes"] < base["mcu"]["flash_bytes"]
            assert 0 <= p["int8_accuracy"] <= 1
    assert st_rep["checks"]["bar_50"]["conv_macs_at_most_half_each"] is True
    with open(workdir / "reports" / "structured.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["ratio"]) for r in rows] == [0.0, 0.5]
    assert {"params", "flops", "cpu_ms", "cpu_int8_ms", "mcu_ms", "l1_finetuned",
            "linf_pruned"} <= set(rows[0])
    if have_fw:
        assert all(float(r["cpu_int8_ms"]) > 0 for r in rows)
    with open(workdir / "reports" / "unstructured.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["sparsity"]) for r in rows] == [0.0, 0.5, 0.9]
    assert int(rows[2]["params"]) < int(rows[1]["params"]) < int(rows[0]["params"])
    metrics = json.loads((workdir / "reports" / "metrics.json").read_text())
    assert metrics["baseline_params"] == base["params"]

    # a second run computes nothing; a new sparsity computes only that point
    un2, st2, _ = run_stage(workdir, write_params(workdir, [0.5, 0.9], have_fw), capsys)
    assert un2["points_cached"] == 3 and st2["points_cached"] == 3
    assert un2["points"] == un_rep["points"]
    un3, st3, _ = run_stage(workdir, write_params(workdir, [0.5, 0.7, 0.9], have_fw), capsys)
    assert un3["points_cached"] == 3 and len(un3["points"]) == 3 and st3["points_cached"] == 3


def test_bn_recalibration_gives_the_plain_batch_statistics():
    from kws.prune.run import recalibrate_bn

    m = model("ds_cnn")
    x = toy_split(300, 5)[0]
    new = recalibrate_bn(m, x, batch_size=100)
    # reference: the conv output's per-channel mean and (unbiased) variance, by hand
    with torch.no_grad():
        h = m.conv(torch.nn.functional.pad(x, m.pad))
    mean = h.mean((0, 2, 3))
    var_batches = torch.stack([h[i:i + 100].var((0, 2, 3), unbiased=True) for i in (0, 100, 200)])
    torch.testing.assert_close(new.bn.running_mean, mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(new.bn.running_var, var_batches.mean(0), rtol=1e-4, atol=1e-5)
    assert not new.training and new.bn.momentum == m.bn.momentum
    assert not torch.equal(m.bn.running_mean, new.bn.running_mean)  # the original is untouched

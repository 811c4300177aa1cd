"""The generated C engine against TFLM's reference kernels (bit for bit), on the registry
models (random weights, converted here) and on a small model with odd shapes (stride 2x1,
SAME padding, 5 and 6 channels, depth multiplier 2, max pool, a residual ADD, ReLU6, and
per-channel scales spanning five orders of magnitude); the host build runs under
AddressSanitizer/UBSan, portable and with the SIMD kernels (C models of the DSP
instructions); the Cortex-M4 build runs in the emulator. Plus the arena plan and a compile
check of the Arduino sketch (the other ops and the errors: tests/test_firmware_ops.py)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.export import interpreters as interp
from kws.export.pipeline import convert_model
from kws.firmware import host
from kws.frontend import to_pcm16
from kws.firmware.codegen import plan_arena, read_tflite, write_sources
from kws.firmware.referee import tflm_outputs
from kws.firmware.emulator import Harness
from kws.firmware.toolchain import build_host, build_m4
from session_files import made_once, shared_dir

SHAPE = (49, 10)
REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "tests" / "fixtures" / "arduino_stub"


class OddNet(nn.Module):
    """Every layer kind the engine runs, at shapes that are not multiples of 4."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, (5, 3), stride=(2, 1), padding=(2, 1))
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.pw = nn.Conv2d(6, 5, 1)
        self.dw2 = nn.Conv2d(5, 10, 3, padding=1, groups=5)  # depth multiplier 2
        self.fc = nn.Linear(40, 7)
        with torch.no_grad():  # per-channel scales from 1e-3 to 1e1
            self.pw.weight.mul_(torch.tensor([1e-3, 1e-2, 1e-1, 1.0, 10.0]).view(5, 1, 1, 1))

    def forward(self, x):
        x = F.hardtanh(self.conv1(x), 0.0, 6.0)          # RELU6
        x = x + F.relu(self.dw(x))                      # ADD of two activations
        x = F.max_pool2d(self.pw(x), 2)                 # 25x10 -> 12x5
        x = F.relu(self.dw2(x))
        x = F.avg_pool2d(x, (3, 5))                     # -> 4x1
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


class SimdNet(nn.Module):
    """The SIMD fast paths at the shapes their remainders take: 3x3 depthwise on 16 and 32
    channels with 25 rows (SAME) and 23 rows (VALID, ReLU6: the clamped path), 1x1 convs with
    k = 16 and 32 over 250 and 184 pixels (not multiples of 3), plain and ReLU6."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, (5, 3), stride=(2, 1), padding=(2, 1))
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 32, 1)
        self.dw2 = nn.Conv2d(32, 32, 3, groups=32)
        self.pw2 = nn.Conv2d(32, 16, 1)
        self.pw3 = nn.Conv2d(16, 8, 1)
        self.fc = nn.Linear(8, 7)

    def forward(self, x):
        x = F.relu(self.conv1(x))                       # 25x10x16
        x = F.relu(self.dw(x))
        x = F.relu(self.pw(x))                          # 250 pixels, k = 16
        x = F.hardtanh(self.dw2(x), 0.0, 6.0)           # 23x8x32, VALID, RELU6
        x = F.relu(self.pw2(x))                         # 184 pixels, k = 32
        x = F.hardtanh(self.pw3(x), 0.0, 6.0)           # k = 16, RELU6
        x = F.avg_pool2d(x, (23, 8))
        return self.fc(x.flatten(1))


def _build(name):
    torch.manual_seed(0)
    if name == "odd":
        return OddNet().eval()
    if name == "simd":
        return SimdNet().eval()
    from kws.models import build_model

    model = build_model(name, 12, input_shape=SHAPE)
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def mfcc_like(n, seed):
    rng = np.random.default_rng(seed)
    scale = np.array([12.0] + [4.0] * (SHAPE[1] - 1), np.float32)
    offset = np.array([-40.0] + [0.0] * (SHAPE[1] - 1), np.float32)
    return rng.standard_normal((n, *SHAPE)).astype(np.float32) * scale + offset


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """Converted models, shared by the xdist workers (conversion is ~10 s)."""
    return shared_dir(tmp_path_factory, "kws-firmware-models")


def converted(model_dir, name) -> bytes:
    def convert(path):
        torch.set_num_threads(1)
        convert_model(_build(name), SHAPE, mfcc_like(64, 1), path, model_dir / f"{name}.onnx")

    return made_once(model_dir / f"{name}.tflite", convert)


@pytest.fixture(scope="module", params=["tiny_conv", "ds_cnn", "odd", "simd"])
def engine(request, model_dir, tmp_path_factory):
    name = request.param
    model = converted(model_dir, name)
    out = tmp_path_factory.mktemp(f"fw-{name}")
    gen = write_sources(model, out / "src", None, None, strict=False)
    return name, model, gen, out


def _inputs(model, n, seed):
    q = interp.input_qparams(model)
    x = interp.quantize(mfcc_like(n, seed), q).reshape(n, -1)
    rng = np.random.default_rng(seed)  # and a few uniformly random int8 inputs
    x[: n // 4] = rng.integers(-128, 128, x[: n // 4].shape)
    return x


@pytest.mark.parametrize("simd", [False, True], ids=["portable", "simd"])
def test_host_build_bit_exact_with_tflm(engine, simd):
    name, model, gen, out = engine
    env_flags = ["-DKWS_FORCE_DSP"] if simd else []
    binary = build_host(out / "src", out / f"host-{simd}" / "kws_host", sanitize=True,
                        extra_flags=env_flags)
    x = _inputs(model, 40, seed=3)
    ref = tflm_outputs(model, x)
    got = host.network(binary, x, gen.output_size)
    assert np.array_equal(got, ref), f"{name}: {int((got != ref).sum())} outputs differ"


def test_cortex_m4_build_bit_exact_in_the_emulator(engine):
    name, model, gen, out = engine
    x = _inputs(model, 2, seed=4)
    ref = tflm_outputs(model, x)
    builds = [False] if name == "ds_cnn" else [False, True]  # portable ds_cnn: ~8 s/clip
    for portable in builds:
        elf = build_m4(out / "src", out / f"m4-{portable}.elf", portable=portable)
        h = Harness(elf)
        for i in range(len(x)):
            job = h.run_features(x[i])
            assert np.array_equal(job.logits, ref[i]), (name, portable, i)
            assert job.cycles["network"] > 0


def test_cortex_m4_build_gives_the_same_bytes_twice(engine, tmp_path):
    """The ELF and its link map, built twice into different folders: the same bytes (the map
    used to name gcc's temporary objects, /tmp/ccXXXXXX.o, and so changed every build)."""
    _, _, _, out = engine
    a = build_m4(out / "src", tmp_path / "a" / "kws_m4.elf")
    b = build_m4(out / "src", tmp_path / "b" / "kws_m4.elf")
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".map").read_bytes() == b.with_suffix(".map").read_bytes()
    assert "/tmp/cc" not in a.with_suffix(".map").read_text()


def test_arena_is_the_largest_live_set_and_below_tflm(engine):
    name, model, gen, out = engine
    assert gen.largest_live_bytes <= gen.arena_bytes <= 1.1 * gen.largest_live_bytes + 16
    probe = _inputs(model, 2, seed=5).reshape(2, *SHAPE, 1)
    assert gen.arena_bytes + gen.scratch_bytes <= interp.min_tflm_arena(model, probe)


def test_arena_plan_never_overlaps_live_tensors(engine):
    _, model, _, _ = engine
    plan = plan_arena(read_tflite(model))
    bufs = list(plan.life)
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            (la, ha), (lb, hb) = plan.life[a], plan.life[b]
            if la <= hb and lb <= ha:  # alive together
                oa, ob = plan.offsets[a], plan.offsets[b]
                assert oa + plan.sizes[a] <= ob or ob + plan.sizes[b] <= oa


def test_ds_cnn_runs_its_convolutions_in_place(model_dir):
    """The planner's bar (issue 18): pointwise and depthwise convolutions overwrite their
    input, so ds_cnn's activations and scratch fit in 10,240 B (two 8,000 B tensors before;
    TFLM 24,048 B). The bit-exact tests above run these in-place plans."""
    from kws.firmware.codegen import generate_model

    gen = generate_model(converted(model_dir, "ds_cnn"))
    in_place = [gen.ops[k] for k in gen.in_place_ops]
    assert in_place.count("DEPTHWISE_CONV_2D") == 4 and in_place.count("CONV_2D") == 4
    assert gen.arena_bytes + gen.scratch_bytes <= 10240


def test_odd_model_covers_the_ops(model_dir):
    ops = set(read_tflite(converted(model_dir, "odd")).ops and
              [op.name for op in read_tflite(converted(model_dir, "odd")).ops])
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D",
            "FULLY_CONNECTED"} <= ops


def test_arduino_sketch_compiles_for_cortex_m4(model_dir, tmp_path):
    from kws.firmware.arduino import compile_check, write_sketch

    write_sources(converted(model_dir, "ds_cnn"), tmp_path / "src", None,
                  [f"w{i}" for i in range(12)])
    sketch = write_sketch(tmp_path / "src", tmp_path)
    names = {p.name for p in sketch.iterdir()}
    assert {"kws_mcu.ino", "model.c", "model_settings.h", "kws_op_conv_2d.c"} <= names
    objs = compile_check(sketch, STUB, tmp_path / "obj")
    assert any(o.name == "kws_mcu.o" for o in objs)


def test_emulated_end_to_end_equals_host(model_dir, tmp_path):
    """Audio in, on the Cortex-M4 build: features and logits equal the host build's (ds_cnn,
    one real clip from ../shared/data, or a chirp in noise where that is absent)."""
    from kws.audio import pad_or_trim, read_wav

    wavs = sorted((REPO.parent / "shared" / "data" / "speech_commands_v0.01").glob("yes/*.wav"))
    if wavs:
        audio = to_pcm16(pad_or_trim(read_wav(wavs[0]), 16000))
    else:
        t = np.arange(16000) / 16000.0
        noise = np.random.default_rng(0).standard_normal(16000) * 0.01
        audio = to_pcm16(0.3 * np.sin(2 * np.pi * (300 + 800 * t) * t) + noise)
    model = converted(model_dir, "ds_cnn")
    gen = write_sources(model, tmp_path / "src", None, [f"w{i}" for i in range(12)])
    binary = build_host(tmp_path / "src", tmp_path / "kws_host")
    job = Harness(build_m4(tmp_path / "src", tmp_path / "m4.elf")).run_audio(audio)
    feats = host.features(binary, audio[None], 490)[0]
    assert np.array_equal(job.features, feats)
    assert np.array_equal(job.logits, host.network(binary, feats[None], gen.output_size)[0])
    assert np.array_equal(job.logits, tflm_outputs(model, feats[None])[0])
    assert min(job.cycles[s] for s in ("features", "network", "postprocess")) > 0


def test_measure_tflite_reports_what_pruning_needs(model_dir, tmp_path):
    from kws.firmware.measure import measure_tflite

    path = model_dir / "tiny_conv.tflite"
    converted(model_dir, "tiny_conv")
    r = measure_tflite(path, tmp_path, n_clips=1)
    for key in ("flash_bytes", "ram_bytes", "arena_bytes", "network_cycles", "network_ms",
                "macs", "cycles_per_mac"):
        assert r[key] > 0, key
    # tiny_conv: conv 8 filters 10x8 stride 2 on 49x10 (25x5 out), dense 1000 -> 12
    assert r["macs"] == 25 * 5 * 8 * 10 * 8 + 25 * 5 * 8 * 12
    assert r["network_ms"] == pytest.approx(r["network_cycles"] / 64e3, rel=1e-3)
    assert r["ram_bytes"] >= r["arena_bytes"]


def test_stage_errors_are_one_line(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, str(REPO / "stages" / "firmware.py"), "--model",
                          str(tmp_path / "none.tflite")], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "convert" in res.stderr
    bad = tmp_path / "params.yaml"
    bad.write_text("stream:\n  detection_threshold: 2\n")
    res = subprocess.run([sys.executable, str(REPO / "stages" / "firmware.py"), "--params",
                          str(bad)], cwd=REPO, env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "stream.detection_threshold" in res.stderr

"""Conversion: torch -> ONNX -> onnx2tf full-int8 TFLite, LiteRT vs TFLM, arena, C array,
the convert stage's errors, and `kws predict`.

The structural tests run both registry models (``kws.models``) with random weights; until the
registry exists they run stand-ins with the same layer kinds. References are independent of the
code under test: the float torch model for the int8 outputs, LiteRT for TFLM, a re-run with the
arena one step smaller for the bisection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytest.importorskip("onnx2tf")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tflite_micro")

from kws.errors import KwsError  # noqa: E402
from kws.export import interpreters as interp  # noqa: E402
from kws.export.c_array import read_c_array, write_c_array  # noqa: E402
from kws.export.pipeline import LAYOUT_OPS, convert_model  # noqa: E402
from kws.export.tflite import check_calibration, model_io  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (49, 10)
N_LABELS = 12
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}

try:
    from kws.models import build_model as _registry_build
except ImportError:  # the registry lands in another change; stand-ins until then
    _registry_build = None


# --- stand-ins with the registry's layer kinds, written the way that converts cleanly -------
def _same_pad(k, s, hw):
    """F.pad argument for TF SAME padding (asymmetric for even kernels: more at the end)."""
    pads = []
    for kk, ss, n in zip(k, s, hw):
        tot = max((-(-n // ss) - 1) * ss + kk - n, 0)
        pads.append((tot // 2, tot - tot // 2))
    (t, b), (l, r) = pads
    return (l, r, t, b)


class _TinyConv(nn.Module):
    def __init__(self, n_labels, input_shape=SHAPE, dropout=0.2):
        super().__init__()
        self.pad = _same_pad((10, 8), (2, 2), input_shape)
        self.conv = nn.Conv2d(1, 8, (10, 8), 2)
        self.drop = nn.Dropout(dropout)
        h, w = (-(-input_shape[0] // 2), -(-input_shape[1] // 2))
        self.fc = nn.Linear(8 * h * w, n_labels)

    def forward(self, x):
        x = self.drop(F.relu(self.conv(F.pad(x, self.pad))))
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


class _DSCNN(nn.Module):
    def __init__(self, n_labels, input_shape=SHAPE, dropout=0.2, c=64):
        super().__init__()
        self.pad = _same_pad((10, 4), (2, 2), input_shape)
        layers = [nn.Conv2d(1, c, (10, 4), 2), nn.BatchNorm2d(c), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d((-(-input_shape[0] // 2), -(-input_shape[1] // 2)))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(c, n_labels)

    def forward(self, x):
        x = self.pool(self.body(F.pad(x, self.pad)))
        return self.fc(self.drop(x).permute(0, 2, 3, 1).flatten(1))


def build(arch: str) -> nn.Module:
    torch.manual_seed(0)
    if _registry_build is not None:
        model = _registry_build(arch, N_LABELS, input_shape=SHAPE)
    else:
        model = {"tiny_conv": _TinyConv, "ds_cnn": _DSCNN}[arch](N_LABELS)
    # Non-trivial batch-norm statistics, so folding them into the convs is exercised.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def mfcc_like(n: int, seed: int) -> np.ndarray:
    """Random clips with MFCC-like scale: a large, negative c0 and smaller higher coefficients."""
    rng = np.random.default_rng(seed)
    scale = np.array([12.0] + [4.0] * (SHAPE[1] - 1), np.float32)
    offset = np.array([-40.0] + [0.0] * (SHAPE[1] - 1), np.float32)
    return (rng.standard_normal((n, *SHAPE)).astype(np.float32) * scale + offset)


CALIB = mfcc_like(64, seed=1)
TEST = mfcc_like(100, seed=2)


@pytest.fixture(scope="module", params=["tiny_conv", "ds_cnn"])
def converted(request, tmp_path_factory):
    arch = request.param
    model = build(arch)
    out = tmp_path_factory.mktemp(arch)
    conv = convert_model(model, SHAPE, CALIB, out / "m.tflite", out / "m.onnx")
    return arch, model, conv.tflite, conv.ops


def torch_logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x).reshape(-1, 1, *SHAPE)).numpy()


# --- structure ----------------------------------------------------------------------------
def test_no_transpose_or_pad(converted):
    arch, _, _, ops = converted
    assert "CONV_2D" in ops and "FULLY_CONNECTED" in ops, ops
    bad = [op for op in ops if op in LAYOUT_OPS]
    assert not bad, f"{arch}: layout ops {bad} in {ops}"


def test_layout_check_catches_nchw_flatten_and_symmetric_pad(tmp_path):
    """The same check fails on a model written the wrong way (so the test above can fail)."""

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, (10, 4), 2, padding=(5, 2))  # symmetric: not TF SAME
            self.fc = nn.Linear(4 * 25 * 6, N_LABELS)

        def forward(self, x):
            return self.fc(F.relu(self.conv(x)).flatten(1))  # NCHW-order flatten

    conv = convert_model(Wrong().eval(), SHAPE, CALIB[:16], tmp_path / "w.tflite",
                         tmp_path / "w.onnx")
    assert "TRANSPOSE" in conv.ops and "PAD" in conv.ops, conv.ops


def test_int8_input_and_output(converted):
    _, _, tflite, _ = converted
    io = model_io(tflite)
    assert io["input"]["dtype"] == "int8" and io["output"]["dtype"] == "int8"
    assert io["input"]["shape"] == [1, *SHAPE, 1]
    assert io["output"]["shape"] == [1, N_LABELS]
    assert io["input"]["scale"] > 0 and -128 <= io["input"]["zero_point"] <= 127


def test_full_integer_per_channel(converted):
    """int8 weights with one scale per output channel, int8 activations, int32 biases."""
    from ai_edge_litert.interpreter import Interpreter

    _, _, tflite, _ = converted
    it = Interpreter(model_content=tflite)
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    for op in it._get_ops_details():
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            act, weight, bias = (tensors[i] for i in op["inputs"][:3])
            out_ch = weight["shape"][3 if op["op_name"] == "DEPTHWISE_CONV_2D" else 0]
            assert np.dtype(weight["dtype"]) == np.int8
            assert len(weight["quantization_parameters"]["scales"]) == out_ch, op
            assert np.dtype(bias["dtype"]) == np.int32
            assert np.dtype(act["dtype"]) == np.int8
        for i in op["outputs"]:
            assert np.dtype(tensors[i]["dtype"]) == np.int8, (op["op_name"], tensors[i]["name"])


def test_input_quantization_covers_calibration_range(converted):
    """The input scale comes from the representative data, not from sample images: the int8
    range must span the calibration features' range (to within one step)."""
    _, _, tflite, _ = converted
    q = interp.input_qparams(tflite)
    lo, hi = (-128 - q.zero_point) * q.scale, (127 - q.zero_point) * q.scale
    assert lo <= CALIB.min() + q.scale and hi >= CALIB.max() - q.scale, (lo, hi)
    assert hi - lo < 1.5 * (max(CALIB.max(), 0) - min(CALIB.min(), 0))


def test_litert_int8_agrees_with_float_torch(converted):
    arch, model, tflite, _ = converted
    ref = torch_logits(model, TEST)
    deq = interp.dequantize(interp.run_litert(tflite, TEST), interp.output_qparams(tflite))
    agree = (ref.argmax(1) == deq.argmax(1)).mean()
    spread = ref.max() - ref.min()
    assert agree >= 0.9, f"{arch}: top-1 agreement {agree}"
    assert np.abs(deq - ref).mean() < 0.05 * spread, (np.abs(deq - ref).mean(), spread)


def test_tflm_agrees_with_litert(converted):
    _, _, tflite, _ = converted
    lite = interp.run_litert(tflite, TEST).astype(np.int32)
    micro = interp.run_tflm(tflite, TEST).astype(np.int32)
    assert np.abs(lite - micro).max() <= 1
    assert (lite.argmax(1) == micro.argmax(1)).all()


def test_arena_bisection_is_tight(converted):
    _, _, tflite, _ = converted
    probe = interp.quantize(TEST[:2, ..., None], interp.input_qparams(tflite))
    expected = interp.run_litert_int8(tflite, probe)
    arena = interp.min_tflm_arena(tflite, probe=probe, step=16)
    assert 1024 < arena < 256 * 1024
    ok = interp.run_tflm(tflite, probe, arena_size=arena, quantized=True)
    assert np.abs(ok.astype(int) - expected.astype(int)).max() <= 1
    assert not interp.tflm_works(tflite, arena - 16, probe, ok)
    assert not interp.tflm_works(tflite, arena - 1024, probe, ok)


def test_quantize_matches_tflite_rounding():
    q = interp.QParams(0.5, -3)
    x = np.array([0.25, -0.25, 0.75, 1000.0, -1000.0, 0.0], np.float32)
    # round half away from zero: 0.5 -> 1, -0.5 -> -1, 1.5 -> 2; then saturate
    assert interp.quantize(x, q).tolist() == [-2, -4, -1, 127, -128, -3]
    assert interp.dequantize(np.array([-3, 1], np.int8), q).tolist() == [0.0, 2.0]


# --- C array ------------------------------------------------------------------------------
def test_c_array_round_trip(tmp_path):
    data = bytes(range(256)) * 3 + b"\x07"
    cc, h = write_c_array(data, tmp_path, defines={"kws_model_input_scale": 0.25,
                                                   "kws_model_tflm_arena_bytes": 4096})
    assert read_c_array(cc.read_text()) == data
    text = h.read_text()
    assert "#define KWS_MODEL_INPUT_SCALE 0.25f" in text
    assert "#define KWS_MODEL_TFLM_ARENA_BYTES 4096" in text
    assert f"g_model_len = {len(data)};" in cc.read_text()
    assert "alignas(16)" in cc.read_text()


def test_c_array_compiles(tmp_path):
    import shutil

    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    write_c_array(b"\x01\x02\x03", tmp_path, defines={"kws_model_input_zero_point": -5})
    main = tmp_path / "main.cc"
    main.write_text('#include "model_data.h"\nint main(){return g_model[2] + g_model_len'
                    ' + KWS_MODEL_INPUT_ZERO_POINT == 1 ? 0 : 1;}\n')
    subprocess.run([cxx, "-std=c++11", "-Wall", "-Werror", "-o", str(tmp_path / "a"),
                    str(main), str(tmp_path / "model_data.cc")], check=True)
    assert subprocess.run([str(tmp_path / "a")]).returncode == 0


# --- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 40, 10), (8, 49, 10, 2), (8, 490), (0, 49, 10)])
def test_wrong_calibration_shape_is_a_clear_error(shape):
    with pytest.raises(KwsError) as err:
        check_calibration(np.zeros(shape, np.float32), SHAPE)
    assert "\n" not in str(err.value)


def test_calibration_layouts_accepted():
    x = mfcc_like(3, 0)
    a = check_calibration(x, SHAPE)
    b = check_calibration(x[:, None], SHAPE)
    assert a.shape == (3, 49, 10, 1) and np.array_equal(a, b)


def _write_features(folder: Path, frames=49, coeffs=10, n=(40, 20)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, count in zip(("train", "test"), n):
        x = mfcc_like(count, 3)[:, :frames, :coeffs] if frames <= 49 else \
            rng.standard_normal((count, frames, coeffs)).astype(np.float32)
        np.savez(folder / f"{split}.npz", x=x, y=rng.integers(0, N_LABELS, count))


def _run_stage(tmp_path, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "convert.py"), "--params",
         str(ROOT / "params.yaml"), "--out-tflite", str(tmp_path / "m.tflite"), "--out-onnx",
         str(tmp_path / "m.onnx"), "--out-c", str(tmp_path / "c"), "--reports",
         str(tmp_path / "reports"), *args],
        capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)


def _assert_one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert not (tmp_path_of(res) / "m.tflite").exists()


def tmp_path_of(res) -> Path:
    return Path(res.args[res.args.index("--out-tflite") + 1]).parent


def test_stage_missing_model(tmp_path):
    _write_features(tmp_path / "features")
    res = _run_stage(tmp_path, "--model", str(tmp_path / "nope.pt"), "--features",
                     str(tmp_path / "features"))
    _assert_one_line_error(res, "nope.pt", "not found")


def test_stage_missing_features(tmp_path):
    res = _run_stage(tmp_path, "--model", str(tmp_path / "nope.pt"), "--features",
                     str(tmp_path / "nothing"))
    _assert_one_line_error(res, "nothing", "featurize")


def test_stage_wrong_shaped_calibration_data(tmp_path):
    _write_features(tmp_path / "features", frames=40)
    res = _run_stage(tmp_path, "--model", str(tmp_path / "nope.pt"), "--features",
                     str(tmp_path / "features"))
    _assert_one_line_error(res, "[40, 10]", "[49, 10]")


def test_stage_corrupt_checkpoint(tmp_path):
    _write_features(tmp_path / "features")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    res = _run_stage(tmp_path, "--model", str(tmp_path / "bad.pt"), "--features",
                     str(tmp_path / "features"))
    _assert_one_line_error(res, "bad.pt")


def _save_checkpoint(path: Path, arch="tiny_conv"):
    from kws.data.labels import label_names

    labels = label_names("yes no up down left right on off stop go".split())
    torch.save({"state_dict": build(arch).state_dict(), "arch": arch,
                "n_labels": len(labels), "labels": labels, "input_shape": list(SHAPE),
                "features": {}}, path)
    return labels


needs_registry = pytest.mark.skipif(_registry_build is None, reason="kws.models not there yet")


@needs_registry
def test_stage_end_to_end(tmp_path):
    _write_features(tmp_path / "features")
    _save_checkpoint(tmp_path / "model.pt")
    res = _run_stage(tmp_path, "--model", str(tmp_path / "model.pt"), "--features",
                     str(tmp_path / "features"))
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert m["test_clips"] == 20 and m["layout_ops"] == []
    assert m["litert_tflm_top1_agreement"] == 1.0
    assert m["tflite_bytes"] == (tmp_path / "m.tflite").stat().st_size
    assert read_c_array((tmp_path / "c" / "model_data.cc").read_text()) == \
        (tmp_path / "m.tflite").read_bytes()
    assert m["calibration"]["clips"] == 40
    assert json.loads((tmp_path / "m.json").read_text())["labels"][0] == "_silence_"


@needs_registry
def test_stage_checkpoint_with_wrong_weights(tmp_path):
    _write_features(tmp_path / "features")
    _save_checkpoint(tmp_path / "model.pt", arch="tiny_conv")
    ck = torch.load(tmp_path / "model.pt", weights_only=False)
    ck["arch"] = "ds_cnn"
    torch.save(ck, tmp_path / "model.pt")
    res = _run_stage(tmp_path, "--model", str(tmp_path / "model.pt"), "--features",
                     str(tmp_path / "features"))
    _assert_one_line_error(res, "model.pt", "ds_cnn")


# --- kws predict ----------------------------------------------------------------------------
def _tone_wav(path: Path, seconds=1.0, rate=16000, channels=1):
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(path), np.stack([x] * channels, 1) if channels > 1 else x, rate,
             subtype="PCM_16")


def _fake_featurize(audio, fparams):
    """A stand-in MFCC (framed log energies) so predict is tested before kws.features exists."""
    frames = fparams.n_frames
    hop, win = fparams.stride_samples, fparams.window_samples
    x = np.stack([audio[i * hop:i * hop + win] for i in range(frames)])
    spec = np.abs(np.fft.rfft(x, axis=1))[:, 1:fparams.n_mfcc + 1]
    return np.log(spec + 1e-6).astype(np.float32)


def test_predict_ranks_labels(converted, tmp_path, monkeypatch, capsys):
    import argparse

    import kws.predict as kp

    arch, model, tflite, _ = converted
    labels = [f"w{i}" for i in range(N_LABELS)]
    (tmp_path / "m.tflite").write_bytes(tflite)
    (tmp_path / "m.json").write_text(json.dumps({"labels": labels}))
    _tone_wav(tmp_path / "a.wav")
    _tone_wav(tmp_path / "long_stereo_44k.wav", seconds=2.5, rate=44100, channels=2)
    try:
        import kws.features  # noqa: F401
    except ImportError:
        monkeypatch.setattr(kp, "featurize", _fake_featurize)

    parser = argparse.ArgumentParser()
    kp.add_predict_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["predict", str(tmp_path / "m.tflite"), str(tmp_path / "a.wav"),
                              str(tmp_path / "long_stereo_44k.wav"), "--top", "4",
                              "--params", str(ROOT / "params.yaml")])
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("a.wav") and "loudest 1 s" in out[5]
    ranks = [ln.split() for ln in out[1:5]]
    assert [r[0] for r in ranks] == ["1.", "2.", "3.", "4."]
    assert all(r[1] in labels for r in ranks)
    scores = [float(r[2]) for r in ranks]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    # The top label is the model's own argmax on the same features.
    from kws.audio import read_wav
    from kws import config

    feats = kp.featurize(read_wav(tmp_path / "a.wav"), config.defaults().features)
    expect = labels[int(interp.run_litert(tflite, feats[None]).argmax())]
    assert ranks[0][1] == expect


def test_predict_errors(tmp_path):
    import kws.predict as kp

    res = subprocess.run([sys.executable, "-m", "kws.predict", str(tmp_path / "x.tflite"),
                          str(tmp_path / "a.wav")], capture_output=True, text=True, env=ENV)
    assert res.returncode == 2 and res.stderr.startswith("error:") and "x.tflite" in res.stderr
    with pytest.raises(KwsError, match="unknown model type"):
        (tmp_path / "m.onnx").write_bytes(b"")
        kp.load_runner(tmp_path / "m.onnx")


def test_fit_clip():
    from kws.predict import fit_clip

    x = np.zeros(40000, np.float32)
    x[30000:31000] = 1.0
    clip, note = fit_clip(x, 16000)
    assert len(clip) == 16000 and clip.sum() == 1000 and "loudest" in note
    clip, note = fit_clip(np.ones(8000, np.float32), 16000)
    assert clip[:4000].sum() == 0 and clip[4000:12000].sum() == 8000 and "padded" in note


@pytest.mark.skipif(_registry_build is None, reason="kws.models not there yet")
def test_predict_cli_on_checkpoint(tmp_path):
    pytest.importorskip("kws.features")
    labels = _save_checkpoint(tmp_path / "model.pt")
    _tone_wav(tmp_path / "a.wav")
    res = subprocess.run([sys.executable, "-m", "kws.predict", str(tmp_path / "model.pt"),
                          str(tmp_path / "a.wav"), "--top", "3"], capture_output=True,
                         text=True, env=ENV, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 4 and lines[1].split()[1] in labels

"""The firmware's MFCC (kws_features.c over kws_frontend.c, with the generated tables) against
kws.features (the same C through the host library, with the tables passed from Python) on
real Speech Commands clips from ../shared/data: the float MFCC and the quantized model input
must be equal bit for bit, and the end-to-end emulated Cortex-M4 run must compute the same
features as the host build (tests/test_firmware_engine.py); generated chirps in noise run too,
where ../shared/data is absent. The input quantization is the one a converter would choose for
these clips (their MFCC range over 255 steps). How close both are to the formulas is
tests/test_features.py's (an independent float64 numpy MFCC)."""

from pathlib import Path

import numpy as np
import pytest

from kws.audio import pad_or_trim, read_wav
from kws.export import interpreters as interp
from kws.features import mfcc
from kws.firmware import host
from kws.frontend import to_pcm16
from kws.firmware.codegen import Generated, generate_settings
from kws.firmware.toolchain import build_host

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "speech_commands_v0.01"
N_CLIPS = 60


def _clips(source):
    if source == "synthetic":  # chirps in noise at several levels: runs anywhere
        rng = np.random.default_rng(0)
        t = np.arange(16000) / 16000.0
        audio = [np.clip(a * np.sin(2 * np.pi * (f0 + 1500 * t) * t) + n * rng.standard_normal(16000),
                         -1, 0.999)
                 for a, f0, n in zip(rng.uniform(0.01, 0.8, 20), rng.uniform(100, 2000, 20),
                                     rng.uniform(1e-4, 0.05, 20))]
        return to_pcm16(np.stack(audio))
    wavs = sorted(SHARED.glob("*/*.wav"))
    step = max(1, len(wavs) // N_CLIPS)
    audio = np.stack([pad_or_trim(read_wav(p), 16000) for p in wavs[::step][:N_CLIPS]])
    return to_pcm16(audio)


@pytest.fixture(scope="module", params=[
    "synthetic",
    pytest.param("real", marks=pytest.mark.skipif(not SHARED.is_dir(),
                                                  reason=f"{SHARED} not present"))])
def setup(request, tmp_path_factory):
    audio = _clips(request.param)
    ref = mfcc(audio.astype(np.float32) / 32768.0).numpy()
    lo, hi = float(ref.min()), float(ref.max())
    scale = (hi - lo) / 255.0
    q = interp.QParams(scale, int(round(-128 - lo / scale)))
    out = tmp_path_factory.mktemp("mfcc")
    # the settings and tables of a model with a 49x10 input and this quantization
    gen = Generated({}, 4, 4, 8, 0, 0, [], q.scale, q.zero_point, 0.1, 0, (1, 49, 10, 1), 12)
    files = generate_settings(gen, None, None)
    (out / "src").mkdir()
    for name, text in files.items():
        (out / "src" / name).write_text(text)
    # a one-op stand-in network, only so the host harness links
    (out / "src" / "model.h").write_text(
        "#include <stdint.h>\n#define KWS_MODEL_INPUT_SIZE 490\n#define KWS_MODEL_OUTPUT_SIZE 12\n"
        "int8_t *kws_model_input(void);\nconst int8_t *kws_model_output(void);\n"
        "void kws_model_invoke(void);\n")
    (out / "src" / "model.c").write_text(
        '#include "model.h"\nstatic int8_t a[490];\nint8_t *kws_model_input(void) { return a; }\n'
        "const int8_t *kws_model_output(void) { return a; }\nvoid kws_model_invoke(void) {}\n")
    binary = build_host(out / "src", out / "kws_host", sanitize=True)
    return audio, ref, q, binary


def test_float_mfcc_equals_python_bit_for_bit(setup):
    audio, ref, _, binary = setup
    c = host.mfcc(binary, audio, 49, 10)
    assert c.view(np.uint32).tolist() == ref.view(np.uint32).tolist()


def test_quantized_features_equal_python(setup):
    audio, ref, q, binary = setup
    c = host.features(binary, audio, 490)
    p = interp.quantize(ref, q).reshape(len(audio), -1)
    assert np.array_equal(c, p)

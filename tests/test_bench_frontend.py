"""`python -m kws.bench frontend` on one noise clip: it builds both Cortex-M4 harnesses, finds
the emulated features equal to the host library's, and writes its figures (the 40,000
cycles-per-frame bar itself is the benchmark's, not a test's); the float64 reference it
measures the features' error against."""

import json

import numpy as np
import pytest

from kws import bench
from kws.bench.frontend import reference_mfcc64
from kws import config


def test_frontend_bench_runs_and_device_equals_host(tmp_path, capsys):
    out = tmp_path / "frontend.json"
    assert bench.main(["frontend", "--real", "0", "--noise", "1", "--accuracy", "3",
                       "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["float_mfcc_equal_host"] and res["int8_features_equal_host"]
    assert res["frames_tried"] == res["frames_per_clip"] == 49
    parts = res["parts_cycles_per_frame"]
    assert {"stage1_640", "stage2", "stage3", "split_mel", "log_dct"} <= set(parts)
    assert sum(parts.values()) + res["rest_cycles_per_frame"] == res["mfcc_cycles_per_frame"]
    assert res["features_cycles_per_frame"] > res["mfcc_cycles_per_frame"] > 0
    assert "cycles/frame" in capsys.readouterr().out
    acc = res["accuracy_vs_float64"]  # None without ../shared/data
    assert acc is None or (acc["clips"] == 3 and acc["max_abs_error"] < 1e-4)


def test_reference_mfcc64_is_the_formulas():
    """Against the formulas written out frame by frame with librosa's HTK filterbank and
    scipy's orthonormal DCT (as tests/test_features.py's reference)."""
    librosa = pytest.importorskip("librosa")
    import scipy.fft

    spec = config.defaults().features
    pcm = (np.random.default_rng(0).standard_normal((1, spec.clip_samples)) * 2000).astype(
        np.int16)
    fb = librosa.filters.mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels,
                             fmin=spec.fmin, fmax=spec.fmax, htk=True, norm=None).T
    w, hop = spec.window_samples, spec.stride_samples
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(w) / w)
    x = pcm[0] / 32768.0
    want = [scipy.fft.dct(np.log(np.abs(np.fft.rfft(x[t * hop:t * hop + w] * hann, spec.n_fft))
                                 ** 2 @ fb + spec.log_floor), type=2, norm="ortho")[:spec.n_mfcc]
            for t in range(spec.n_frames)]
    np.testing.assert_allclose(reference_mfcc64(pcm, spec)[0], want, atol=1e-5)

"""kws.features against an independent plain-numpy MFCC; kws.data.augment; the split index."""

from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from kws import config
from kws.config import AugmentParams
from kws.errors import ParamsError
from kws.data import augment as aug
from kws.data import dataset as ds
from kws.features import dct_matrix, mel_filterbank, mfcc, mfcc_of_wav

SPEC = config.defaults().features
REAL = Path(__file__).resolve().parents[2] / "shared/data/speech_commands_v0.01"


def librosa_filterbank(spec=SPEC) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    return librosa.filters.mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels,
                               fmin=spec.fmin, fmax=spec.fmax, htk=True, norm=None).T


def reference_mfcc(x: np.ndarray, spec=SPEC) -> np.ndarray:
    """Plain numpy, one frame at a time, float64: the spec written out independently."""
    fb = librosa_filterbank(spec).astype(np.float64)
    w, hop = spec.window_samples, spec.stride_samples
    hann = np.array([0.5 - 0.5 * np.cos(2 * np.pi * n / w) for n in range(w)])
    out = []
    t = 0
    while t * hop + w <= len(x):
        frame = np.zeros(spec.n_fft)
        frame[:w] = x[t * hop:t * hop + w].astype(np.float64) * hann
        power = np.abs(np.fft.rfft(frame)) ** 2
        mel = np.array([sum(power[k] * fb[k, m] for k in np.nonzero(fb[:, m])[0])
                        for m in range(spec.n_mels)])
        out.append(scipy.fft.dct(np.log(mel + spec.log_floor), type=2, norm="ortho")
                   [:spec.n_mfcc])
        t += 1
    return np.array(out)


def test_filterbank_is_librosa_htk():
    fb = mel_filterbank(SPEC)
    assert fb.shape == (SPEC.n_fft // 2 + 1, SPEC.n_mels) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, librosa_filterbank(), atol=1e-6)
    assert fb.max() == pytest.approx(1.0, abs=0.02)  # triangles peak (near) 1: no area norm


def test_dct_is_scipy_ortho():
    d = dct_matrix(SPEC)
    assert d.shape == (SPEC.n_mels, SPEC.n_mfcc)
    v = np.random.default_rng(0).standard_normal((3, SPEC.n_mels))
    np.testing.assert_allclose(v @ d, scipy.fft.dct(v, type=2, norm="ortho")[:, :SPEC.n_mfcc],
                               atol=1e-5)


def _sine(f, amp=0.5, n=SPEC.clip_samples):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / SPEC.sample_rate)).astype(np.float32)


@pytest.mark.parametrize("f", [250.0, 1000.0, 3100.0])
def test_matches_reference_on_sines(f):
    x = _sine(f) + 0.01 * np.random.default_rng(1).standard_normal(SPEC.clip_samples).astype(np.float32)
    ours = mfcc(x, SPEC)[0].numpy()
    assert ours.shape == (49, 10)
    pcm = np.round(x.astype(np.float64) * 32768) / 32768  # float audio is rounded to int16 first
    np.testing.assert_allclose(ours, reference_mfcc(pcm), atol=1e-4, rtol=0)


def test_int16_input_is_taken_as_is_and_floats_are_rounded_to_it():
    x = _sine(700.0, amp=0.3)
    pcm = np.round(x.astype(np.float64) * 32768).astype(np.int16)
    assert np.array_equal(mfcc(pcm, SPEC).numpy(), mfcc(x, SPEC).numpy())
    # a float change below half an int16 step changes nothing; a step changes the features
    xq = (pcm / 32768.0).astype(np.float32)
    assert np.array_equal(mfcc(xq + np.float32(0.2 / 32768), SPEC).numpy(), mfcc(x, SPEC).numpy())
    bumped = pcm.copy()
    bumped[100:740] += 1
    assert not np.array_equal(mfcc(bumped, SPEC).numpy(), mfcc(pcm, SPEC).numpy())


@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} not present")
def test_matches_reference_on_real_clips():
    from kws.audio import pad_or_trim, read_wav

    wavs = sorted(REAL.glob("*/*.wav"))[::60][:4]
    assert wavs
    batch = np.stack([pad_or_trim(read_wav(w), SPEC.clip_samples) for w in wavs])
    ours = mfcc(torch.from_numpy(batch), SPEC).numpy()
    for i, w in enumerate(wavs):
        np.testing.assert_allclose(ours[i], reference_mfcc(batch[i]), atol=1e-4, rtol=0,
                                   err_msg=str(w))
        np.testing.assert_allclose(mfcc_of_wav(w, SPEC), ours[i], atol=1e-5)


@pytest.mark.parametrize("params", [
    {"window_ms": 30},                  # 480 samples: the first FFT stage's general path
    {"window_ms": 64, "stride_ms": 32},  # 1024 samples: no zero padding at all
    {"n_mels": 23, "n_mfcc": 13, "fmin": 0.0, "fmax": 8000.0},  # odd bands, two DCT blocks,
])                                                                 # bins up to 512
def test_other_specs_match_reference(params):
    spec = config.FeaturesParams(**{**SPEC.model_dump(), **params})
    rng = np.random.default_rng(4)
    t = np.arange(SPEC.clip_samples) / SPEC.sample_rate
    x = (0.3 * np.sin(2 * np.pi * (200 + 3000 * t) * t)
         + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    ours = mfcc(x, spec)[0].numpy()
    assert ours.shape == (spec.n_frames, spec.n_mfcc)
    pcm = np.round(x.astype(np.float64) * 32768) / 32768
    np.testing.assert_allclose(ours, reference_mfcc(pcm, spec), atol=1e-4, rtol=0)


def test_frontend_log_is_within_float32_rounding():
    """The frontend's log (exponent, a 128-interval table, a quadratic; no libm) against
    float64: within 1.5e-7 plus the rounding of the float32 result (half its ulp)."""
    from kws.frontend import log32

    rng = np.random.default_rng(5)
    m = 1.0 + np.arange(1024) / 1024.0  # every table interval, both ends
    x = np.concatenate([np.exp(rng.uniform(np.log(1e-6), np.log(1e9), 4000)),
                        1.0 + rng.uniform(-1e-3, 1e-3, 500), m, np.nextafter(m, 0),
                        np.ldexp(1.0, np.arange(-20, 30))]).astype(np.float32)
    ref = np.log(x.astype(np.float64))
    half_ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64) / 2
    err = np.abs(log32(x, SPEC).astype(np.float64) - ref)
    assert (err - half_ulp).max() < 1.5e-7


@pytest.mark.parametrize("f", [300.0, 1500.0, 3500.0])
def test_tone_lands_in_its_mel_band(f):
    from kws.features import log_mel

    lm = log_mel(_sine(f), SPEC)[0].numpy()
    band = int(np.argmax(lm.mean(axis=0)))
    # Band m spans edges f_m .. f_{m+2}; its peak is at f_{m+1}. The loudest band contains f.
    fb = librosa_filterbank()
    k = int(round(f * SPEC.n_fft / SPEC.sample_rate))
    assert fb[k, band] > 0, (f, band)
    assert band == int(np.argmax(fb[k]))


def test_shapes_and_batch_api():
    rng = np.random.default_rng(2)
    x = (0.1 * rng.standard_normal((5, SPEC.clip_samples))).astype(np.float32)
    out = mfcc(x, SPEC)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert tuple(out.shape) == (5, SPEC.n_frames, SPEC.n_mfcc) == (5, 49, 10)
    assert tuple(mfcc(x[0], SPEC).shape) == (1, 49, 10)
    # Same numbers whatever the batching (numpy or torch input, one at a time or together).
    np.testing.assert_allclose(mfcc(torch.from_numpy(x[3]), SPEC)[0].numpy(), out[3].numpy(),
                               atol=1e-5)
    # A dict spec (labels.json / checkpoints) works the same.
    np.testing.assert_array_equal(mfcc(x, SPEC.model_dump()).numpy(), out.numpy())
    with pytest.raises(ValueError):
        mfcc(np.zeros((2, 3, 16000), np.float32), SPEC)


def test_mfcc_of_wav_pads(tmp_path):
    from kws.audio import write_wav

    x = _sine(440.0, n=8000)
    write_wav(tmp_path / "half.wav", x)
    out = mfcc_of_wav(tmp_path / "half.wav", SPEC)
    assert out.shape == (49, 10) and out.dtype == np.float32
    from kws.audio import read_wav

    full = np.zeros(SPEC.clip_samples, np.float32)  # zero-padded at the end, as TF's input_data
    full[:8000] = read_wav(tmp_path / "half.wav")
    np.testing.assert_allclose(out, mfcc(full, SPEC)[0].numpy(), atol=1e-5)
    # The padded tail is digital silence: C0 = sqrt(n_mels) ln(log_floor), the rest 0.
    np.testing.assert_allclose(out[-20:, 0], np.sqrt(SPEC.n_mels) * np.log(SPEC.log_floor),
                               rtol=1e-5)
    np.testing.assert_allclose(out[-20:, 1:], 0, atol=1e-4)


# --- augmentation ---------------------------------------------------------------------------
def test_time_shift_moves_with_zero_fill():
    x = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(aug.time_shift(x, 3), [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(aug.time_shift(x, -2), [3, 4, 5, 6, 7, 8, 9, 10, 0, 0])
    np.testing.assert_array_equal(aug.time_shift(x, 0), x)
    assert not aug.time_shift(x, 20).any()


def _basic(**kw):
    """TF's augmentation only (no strong keys)."""
    base = dict(copies=1, time_shift_ms=100, background_probability=0.8, background_volume=0.1)
    base.update(kw)
    return AugmentParams(**base)


def test_augmenter_shift_range_noise_bound_and_determinism():
    n = SPEC.clip_samples
    noise = np.ones(3 * n, np.float32)  # constant noise: the added level is the volume
    a = aug.Augmenter.from_params(_basic(time_shift_ms=100, background_probability=1.0,
                                                 background_volume=0.1), [noise])
    impulse = np.zeros(n, np.float32)
    impulse[n // 2] = 0.5
    shifts, volumes = [], []
    for i in range(200):
        out = a(impulse, aug.clip_rng(7, i))
        level = float(np.median(out))  # the noise level (everything but the impulse)
        volumes.append(level)
        shifts.append(int(np.argmax(out)) - n // 2)
        assert out.max() == pytest.approx(0.5 + level, abs=1e-6)
    assert max(abs(s) for s in shifts) <= 1600 and min(shifts) < -800 and max(shifts) > 800
    assert 0 <= min(volumes) and max(volumes) <= 0.1 + 1e-7 and max(volumes) > 0.05
    np.testing.assert_array_equal(a(impulse, aug.clip_rng(7, 3)), a(impulse, aug.clip_rng(7, 3)))
    assert not np.array_equal(a(impulse, aug.clip_rng(7, 3)), a(impulse, aug.clip_rng(7, 4)))
    # Probability 0: no noise at all, only a shift.
    quiet = aug.Augmenter.from_params(_basic(background_probability=0.0), [noise])
    assert np.count_nonzero(quiet(impulse, aug.clip_rng(1))) == 1
    # Clipped to [-1, 1].
    loud = aug.Augmenter.from_params(_basic(background_probability=1.0,
                                                   background_volume=1.0), [noise * 5])
    assert np.abs(loud(np.full(n, 0.9, np.float32), aug.clip_rng(2))).max() <= 1.0


def test_silence_clip():
    n = 1000
    noise = np.ones(5000, np.float32)
    xs = [aug.silence_clip([noise], n, aug.clip_rng(0, i), scale=0.5) for i in range(50)]
    levels = [x[0] for x in xs]
    assert all(np.all(x == x[0]) for x in xs) and 0 <= min(levels) and max(levels) <= 0.5
    assert not aug.silence_clip([], n, aug.clip_rng(0)).any()


# --- split index ----------------------------------------------------------------------------
WORDS = ["yes", "no"]


def _made_up(n_yes=40, n_no=40, others=("cat", "dog", "bird"), n_other=30):
    clips = {}
    for split, scale in (("train", 4), ("validation", 1), ("test", 1)):
        c = [f"yes/{split}{i}_nohash_0.wav" for i in range(n_yes * scale)]
        c += [f"no/{split}{i}_nohash_0.wav" for i in range(n_no * scale)]
        c += [f"{w}/{split}{i}_nohash_0.wav" for w in others for i in range(n_other * scale)]
        clips[split] = c
    return clips


def test_share_counts_are_shares_of_the_final_split():
    assert ds.share_counts(800, 10, 10) == (100, 100)  # 100 / 1000 = 10 %
    assert ds.tf_share_counts(800, 10, 10) == (80, 80)  # TF: 80 / 960 = 8.3 %
    s, u = ds.share_counts(1000, 20, 5)
    total = 1000 + s + u
    assert s / total == pytest.approx(0.20, abs=1e-3) and u / total == pytest.approx(0.05, abs=1e-3)


def test_index_shares_labels_and_determinism():
    clips = _made_up()
    index = ds.build_index(clips, WORDS, 10, 10, seed=5)
    assert index.labels == ["_silence_", "_unknown_", "yes", "no"]
    counts = index.counts()
    for split in ds.SPLITS:
        c = counts[split]
        total = sum(c.values())
        assert c["_silence_"] / total == pytest.approx(0.10, abs=0.01)
        assert c["_unknown_"] / total == pytest.approx(0.10, abs=0.01)
    assert counts["train"] == {"_silence_": 40, "_unknown_": 40, "yes": 160, "no": 160}
    for e in index.splits["train"]:
        word = e.path.split("/")[0]
        expect = 0 if e.is_silence else 2 + WORDS.index(word) if word in WORDS else 1
        assert e.label == expect
    assert {e.path.split("/")[0] for e in index.splits["test"] if e.label == 1} <= {"cat", "dog",
                                                                                   "bird"}
    again = ds.build_index(clips, WORDS, 10, 10, seed=5)
    assert again.splits == index.splits
    other = ds.build_index(clips, WORDS, 10, 10, seed=6)
    assert [e.path for e in other.splits["train"]] != [e.path for e in index.splits["train"]]
    # Excluding a clip keeps the shares over the clips used.
    ex = ds.build_index(clips, WORDS, 10, 10, seed=5, exclude={"yes/train0_nohash_0.wav"})
    assert all(e.path != "yes/train0_nohash_0.wav" for e in ex.splits["train"])


def test_train_unknown_share_changes_the_train_split_only():
    clips = _made_up()
    base = ds.build_index(clips, WORDS, 10, 10, seed=5)
    more = ds.build_index(clips, WORDS, 10, 10, seed=5, train_unknown_percentage=30)
    # train: K = 320 keyword clips; 30 % unknown and 10 % silence of the final split:
    # total 320 / 0.6 = 533.3 -> silence round(53.3) = 53, unknown round(160) = 160
    assert more.counts()["train"] == {"_silence_": 53, "_unknown_": 160, "yes": 160, "no": 160}
    for split in ("validation", "test"):
        assert more.splits[split] == base.splits[split]
    same = ds.build_index(clips, WORDS, 10, 10, seed=5, train_unknown_percentage=None)
    assert same.splits == base.splits


def test_train_unknown_share_is_checked_with_the_silence_share():
    raw = config.raw_params()
    raw["data"]["train_unknown_percentage"] = 95
    with pytest.raises(ParamsError, match="train_unknown_percentage"):
        config.parse(raw)


def test_index_caps_unknown_and_notes_it():
    index = ds.build_index(_made_up(n_other=1), WORDS, 10, 30, seed=0)
    assert index.counts()["validation"]["_unknown_"] == 3 and index.notes


def test_render_is_deterministic_and_clean_outside_train():
    n = 1600
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    clip = np.linspace(-0.5, 0.5, n).astype(np.float32)
    a = aug.Augmenter(100, 1.0, 0.1, (noise,), 16000)
    word, sil = ds.Example("yes/a_nohash_0.wav", 2, 0), ds.Example("_silence_", 0, 1)
    np.testing.assert_array_equal(ds.render(word, "test", 0, clip, n, [noise], 1, a), clip)
    aug1 = ds.render(word, "train", 1, clip, n, [noise], 1, a)
    assert not np.array_equal(aug1, clip)
    np.testing.assert_array_equal(aug1, ds.render(word, "train", 1, clip, n, [noise], 1, a))
    s1 = ds.render(sil, "validation", 0, None, n, [noise], 1)
    np.testing.assert_array_equal(s1, ds.render(sil, "validation", 0, None, n, [noise], 1))
    assert np.abs(s1).max() > 0

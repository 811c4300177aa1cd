"""Strong augmentation: each step checked against a hand-computed expectation."""

import numpy as np
import pytest

from kws.config import AugmentParams
from kws.data import augment as aug
from kws.errors import ParamsError

RATE = 16000


def _sine(hz: float, n: int = RATE, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / RATE)).astype(np.float32)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[np.argmax(spec)])


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_speed_perturbation_scales_frequency_and_keeps_length():
    y = aug.speed_perturb(_sine(440), 1.1)
    assert len(y) == RATE
    # 440 * 1.1 Hz in 14,550 samples (resampled to 14,550 Hz), moved so that the centre of
    # their spoken part (90 whole 10 ms frames: 0..14,400, centre 7,200) sits at the clip's
    # (8,000): at 800..15,350
    assert abs(_peak_hz(y[1000:15000]) - 484) < 3
    assert np.all(y[:800] == 0) and np.all(y[15350:] == 0)
    assert np.count_nonzero(y[800:15350]) > 14500


def _burst(start: int, length: int) -> np.ndarray:
    x = np.zeros(RATE, np.float32)
    x[start:start + length] = _sine(300, length)
    return x


def test_slowed_word_near_the_end_stays_whole_inside_the_clip():
    """A 350 ms word ending 50 ms before the clip's end, slowed to 0.7x (500 ms): placed by its
    start it would run 357 ms past the end; it ends at the clip's end instead, all of it kept."""
    x = _burst(9600, 5600)
    y = aug.speed_perturb(x, 0.7)
    a0, a1 = aug.active_span(y)
    assert a1 == RATE and 8000 <= a1 - a0 <= 8000 + 2 * 160  # 500 ms, whole 10 ms frames
    assert abs(np.sum(y.astype(np.float64) ** 2) / np.sum(x.astype(np.float64) ** 2)
               - 1 / 0.7) < 0.01  # the energy of a 1/0.7 times longer word: nothing cut


def test_sped_up_word_keeps_its_centre():
    y = aug.speed_perturb(_burst(6000, 4000), 1.25)   # centre at 8000; 3200 samples long
    a0, a1 = aug.active_span(y)
    assert abs((a0 + a1) / 2 - 8000) <= 160 and abs((a1 - a0) - 3200) <= 160


def test_pitch_shift_an_octave_doubles_frequency_at_the_same_tempo():
    y = aug.pitch_shift(_sine(300), 12.0)
    assert len(y) == RATE
    assert abs(_peak_hz(y[2000:14000]) - 600) < 5


def test_room_ir_decays_60_db_in_rt60():
    rt60 = 0.5
    ir = aug.room_ir(np.random.default_rng(0), rt60)
    tail = ir.astype(np.float64).copy()
    tail[0] = 0
    edc = np.cumsum(tail[::-1] ** 2)[::-1]  # Schroeder backward integration
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    t = np.arange(len(ir)) / RATE
    sel = (edc_db < -5) & (edc_db > -25)  # T20, extrapolated to 60 dB
    slope = np.polyfit(t[sel], edc_db[sel], 1)[0]
    assert -60 / slope == pytest.approx(rt60, rel=0.2)
    y = aug.reverb(_sine(500), ir)
    assert len(y) == RATE and np.max(np.abs(y)) == pytest.approx(0.3, rel=1e-4)


def test_mic_eq_cuts_outside_the_band():
    low, mid, high = _sine(40), _sine(1000), _sine(6000)
    eq = lambda x: aug.mic_eq(x, highpass=300, lowpass=3000, res_hz=2000, res_db=0.0)  # noqa: E731
    s = slice(4000, None)  # after the filters settle
    assert _rms(eq(low)[s]) < 0.1 * _rms(low)
    assert _rms(eq(high)[s]) < 0.05 * _rms(high)
    assert _rms(eq(mid)[s]) == pytest.approx(_rms(mid), rel=0.1)
    boosted = aug.mic_eq(_sine(2000), highpass=60, lowpass=8000, res_hz=2000, res_db=6.0)
    assert _rms(boosted[s]) / _rms(_sine(2000)) == pytest.approx(10 ** (6 / 20), rel=0.05)


def _only(**kw):
    base = dict(copies=1, time_shift_ms=0, background_probability=1.0, background_volume=0.1)
    base.update(kw)
    return AugmentParams(**base)


def test_noise_is_added_at_the_drawn_snr_and_gain_applies():
    noise = np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32) * 0.05
    x = np.zeros(RATE, np.float32)
    x[4000:12000] = _sine(700, 8000)
    a = aug.Augmenter.from_params(_only(snr_db=(10.0, 10.0)), [noise])
    y = a(x, aug.clip_rng(0, 1))
    added = y - x
    snr = 20 * np.log10(aug.active_rms(x) / _rms(added))
    assert snr == pytest.approx(10.0, abs=0.05)
    g = aug.Augmenter.from_params(_only(background_probability=0.0, gain_db=(-6.0, -6.0)), [noise])
    np.testing.assert_allclose(g(x, aug.clip_rng(0, 1)), x * 10 ** (-6 / 20), atol=1e-6)


def test_strong_is_off_unless_set_and_deterministic_when_on():
    assert aug.Strong.from_params(_only()) is None
    p = _only(speed=(0.85, 1.15), pitch_semitones=2, pitch_probability=0.5,
                      reverb_probability=0.5, eq_probability=0.5, snr_db=(0, 20),
                      gain_db=(-10, 5))
    noise = np.random.default_rng(2).standard_normal(2 * RATE).astype(np.float32) * 0.1
    a = aug.Augmenter.from_params(p, [noise])
    x = _sine(300)
    outs = [a(x, aug.clip_rng(7, 0, i)) for i in range(6)]
    again = [a(x, aug.clip_rng(7, 0, i)) for i in range(6)]
    assert all(np.array_equal(o, g) for o, g in zip(outs, again))
    assert len({o.tobytes() for o in outs}) == 6
    # float64 (rounded to int16 by the caller: same bytes on any CPU)
    assert all(o.dtype == np.float64 and len(o) == RATE and np.abs(o).max() <= 1 for o in outs)


def test_bad_ranges_are_refused_in_one_line():
    from kws import config

    with pytest.raises(ParamsError, match=r"features.augment.speed.*0.5 <= low <= high <= 2.0"):
        config.with_overrides({"features": {"augment": {"speed": [1.2, 0.9]}}})

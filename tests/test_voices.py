"""Issue 16: Kokoro style mixtures, the formant warp, per-speaker word subsets, the
intelligibility filter and fresh _unknown_ clips per augmented copy. Engine tests use a couple
of words and speakers and skip, saying why, when the engine is not installed."""

import copy
import json
import shutil

import numpy as np
import pytest

from kws import config
from kws.data import dataset as ds
from kws.data import intelligibility as intel
from kws.data import synthetic as syn
from kws.data import tts

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
# issue 16's data.synthetic keys and their "off" values: left out, they give the issue-9 set
ISSUE16_OFF = {"engine_weights": None, "other_words": None, "everyday_words": False,
               "formant": None, "prosody": None, "intelligibility": None, "retries": 0}


def _engine_or_skip(name):
    e = tts.engine(name)
    try:
        e.check()
    except syn.ToolMissingError as err:
        pytest.skip(str(err))
    return e


def _envelope_peak_hz(x, rate=16000, lo=150.0, hi=1500.0):
    """Frequency of the strongest smoothed-spectrum peak between lo and hi (a first formant)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    smooth = np.convolve(spec, np.ones(41) / 41, mode="same")
    band = (f >= lo) & (f <= hi)
    return float(f[band][np.argmax(smooth[band])])


def test_formant_warp_moves_the_envelope_not_the_pitch_or_length():
    rate, f0 = 16000, 120.0
    t = np.arange(rate) / rate
    # a vowel-like buzz: harmonics of f0 shaped by one resonance at 700 Hz
    x = sum(np.exp(-((k * f0 - 700.0) / 150.0) ** 2) * np.sin(2 * np.pi * k * f0 * t)
            for k in range(1, 60))
    x = 0.5 * x / np.abs(x).max()
    assert np.array_equal(tts.formant_warp(x, 1.0), x)
    up, down = tts.formant_warp(x, 1.15), tts.formant_warp(x, 0.87)
    assert len(up) == len(down) == len(x)
    assert np.isclose(np.abs(up).max(), np.abs(x).max())
    assert _envelope_peak_hz(up) > 1.08 * _envelope_peak_hz(x)
    assert _envelope_peak_hz(down) < 0.94 * _envelope_peak_hz(x)
    spec = np.abs(np.fft.rfft(up[4000:12000] * np.hanning(8000)))
    f = np.fft.rfftfreq(8000, 1 / rate)
    band = (f > 500) & (f < 1100)
    peak = f[band][np.argmax(spec[band])]
    assert min(peak % f0, f0 - peak % f0) < 4  # the energy stays on the harmonics of f0


def test_speaker_words_are_keywords_plus_a_seeded_subset():
    spoken = syn.word_list(KEYWORDS) + syn.EVERYDAY_WORDS
    a = syn.speaker_words("abcd1234", 7, spoken, KEYWORDS, 4)
    assert a[:10] == KEYWORDS and len(a) == 14 and set(a) <= set(spoken)
    assert a == syn.speaker_words("abcd1234", 7, spoken, KEYWORDS, 4)
    assert a != syn.speaker_words("abcd1235", 7, spoken, KEYWORDS, 4)
    assert syn.speaker_words("abcd1234", 7, spoken, KEYWORDS, None) == spoken
    assert not set(syn.EVERYDAY_WORDS) & set(syn.word_list(KEYWORDS))
    assert not {"know", "write", "right", "town", "cup"} & set(syn.EVERYDAY_WORDS)


def test_new_keys_absent_keep_the_issue9_speakers():
    v = syn.Voice("en-us", "m3", 150, 50)
    assert v.settings == "espeak-ng -v en-us+m3 -s 150 -p 50" and "formant" not in v.as_dict()
    w = syn.Voice("en-us", "m3", 150, 50, formant=1.1, prosody=0.5)
    assert w.speaker_id != v.speaker_id and w.as_dict()["formant"] == 1.1
    raw = copy.deepcopy(config.raw_params())
    for key in ISSUE16_OFF:
        raw["data"]["synthetic"].pop(key, None)
    raw["features"]["augment"].pop("fresh_unknown", None)
    p = config.parse(raw)
    s = p.data.synthetic
    assert {key: getattr(s, key) for key in ISSUE16_OFF} == ISSUE16_OFF
    assert p.features.augment.fresh_unknown is False
    with pytest.raises(config.ParamsError, match="formant"):
        config.with_overrides({"data": {"synthetic": {"formant": [0.5, 1.2]}}})


def test_kokoro_mixtures_are_new_deterministic_voices():
    e = _engine_or_skip("kokoro")
    rng = np.random.default_rng(1)
    speakers = [e.draw(rng) for _ in range(8)]
    assert len({s.speaker_id for s in speakers}) == 8
    mixed = next(s for s in speakers if "+" in s.voice)
    weights = [float(p.split(":")[1]) for p in mixed.voice.split("+")]
    assert abs(sum(weights) - 1) < 1e-6
    pure = tts.Speaker("kokoro", f"{e.voices()[0]}:1", mixed.controls)
    assert not np.allclose(e.style(mixed), e.style(pure))
    x1, x2 = e.speak("yes", mixed), e.speak("yes", mixed)
    assert np.array_equal(x1, x2) and np.abs(x1).max() > 0.01


def test_filter_rejects_only_a_different_label(monkeypatch):
    pytest.importorskip("pocketsphinx")
    vocab = syn.word_list(KEYWORDS) + ["apple"]
    rec = intel.PocketSphinx(vocab, syn.word_list(KEYWORDS), KEYWORDS)
    clip, info = np.zeros(16000, np.float32), {"offset": 4000, "length": 6000}
    for heard, word, ok in (("down", "down", True), ("no", "down", False),  # keyword -> keyword
                            ("bird", "down", True), (None, "down", True),   # coarse: kept
                            ("up", "bird", False), ("tree", "bird", True),  # other word
                            ("yes", "apple", False), ("apple", "apple", True)):
        monkeypatch.setattr(rec, "hypothesis", lambda a, h=heard: h)
        assert rec.heard(clip, info, word) is ok, (heard, word)
    assert rec.unchecked == []


@needs_espeak
def test_generate_with_the_issue16_keys(tmp_path):
    pytest.importorskip("pocketsphinx")
    out = tmp_path / "raw"
    rep = syn.generate(out, words=["yes", "no"], speakers=6, noise_files=1, noise_seconds=2.0,
                       seed=3, workers=1, progress=False, engines=["espeak-ng"], jitter=0.05,
                       other_words=1, everyday_words=True, formant=(0.9, 1.1), prosody=(0.5, 2),
                       intelligibility="pocketsphinx", retries=1)
    voices = json.loads((out / syn.VOICES_FILE).read_text())
    assert all(0.9 <= v["formant"] <= 1.1 and 0.5 <= v["prosody"] <= 2 for v in voices)
    f = rep["intelligibility"]["per_engine"]["espeak-ng"]
    assert f["clips"] == 18 and f["dropped"] == 18 - rep["clips"]
    assert rep["clips"] == sum(len(list((out / w).glob("*.wav")))
                               for w in syn.word_list(["yes", "no"]) + syn.EVERYDAY_WORDS
                               if (out / w).is_dir())
    for v in voices:  # the keywords, unless dropped, and one other word each
        said = [p.parent.name for p in out.glob(f"*/{v['speaker_id']}_nohash_0.wav")]
        assert len(said) <= 3 and len(set(said) - {"yes", "no"}) <= 1


def test_fresh_unknown_clips_per_augmented_copy():
    clips = {"train": [f"yes/s{i}_nohash_0.wav" for i in range(40)]
             + [f"bird/s{i}_nohash_0.wav" for i in range(40)],
             "validation": ["yes/v_nohash_0.wav", "bird/v_nohash_0.wav"],
             "test": ["yes/t_nohash_0.wav", "bird/t_nohash_0.wav"]}
    plain = ds.build_index(clips, ["yes"], 10, 10, seed=1)
    fresh = ds.build_index(clips, ["yes"], 10, 10, seed=1, fresh_copies=2)
    assert [e.path for e in plain.splits["train"]] == [e.path for e in fresh.splits["train"]]
    unk = [e for e in fresh.splits["train"] if e.path.startswith("bird/")]
    used = [e.path_of_copy(c) for e in unk for c in range(3)]
    assert len(unk) == 5 and len(set(used)) == 15  # every copy its own clip
    assert all(e.path_of_copy(0) == e.path for e in unk)
    kw = next(e for e in fresh.splits["train"] if e.path.startswith("yes/"))
    assert kw.alts == () and kw.path_of_copy(2) == kw.path
    assert all(e.alts == () for s in ("validation", "test") for e in fresh.splits[s])


@needs_espeak
def test_a_clip_is_heard_the_same_whatever_was_decoded_before():
    """pocketsphinx's live CMN carries over from one utterance to the next: a decoder kept for
    a worker process heard 9 clips of 60 differently from a fresh decoder, so the filter's
    verdicts (and data/raw) depended on which speakers a worker took before. Reference: a
    freshly made recognizer per clip."""
    pytest.importorskip("pocketsphinx")
    exe = shutil.which("espeak-ng")
    voices = syn.draw_voices(3, 5, syn.english_voices(exe), syn.voice_variants(exe),
                             (110, 210), (20, 80))
    clips = [syn.make_clip(w, v, 5, exe, jitter=0.08)[0] for v in voices[:2] for w in KEYWORDS]
    vocab = tuple(syn.word_list(KEYWORDS))

    def fresh(clip):
        r = intel.PocketSphinx(vocab, None, KEYWORDS)
        r._search("yes")
        return r.hypothesis(clip)

    shared = intel.PocketSphinx(vocab, None, KEYWORDS)
    shared._search("yes")
    heard = [shared.hypothesis(c) for c in clips]
    assert heard == [fresh(c) for c in clips]
    assert len(set(heard)) > 3  # the clips are heard as various words, not all as nothing

"""Multi-engine TTS data: speaker ids cover engine + voice + settings, splits stay
speaker-disjoint, missing engines are skipped with a message, engines are deterministic."""

import json
import shutil

import numpy as np
import pytest

from kws import config
from kws.data import speech_commands as sc
from kws.data import synthetic as syn
from kws.data import tts
from kws.errors import ParamsError
from test_voices import ISSUE16_OFF

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


def _peak_hz(x: np.ndarray, rate: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


def test_speaker_id_changes_with_engine_voice_and_every_setting():
    base = tts.Speaker("piper", "en_US-joe-medium", (("length", 1.0), ("noise", 0.5)))
    others = [tts.Speaker("hibari", "en_US-joe-medium", base.controls),
              tts.Speaker("piper", "other", base.controls),
              tts.Speaker("piper", "en_US-joe-medium", (("length", 1.01), ("noise", 0.5))),
              tts.Speaker("piper", "en_US-joe-medium", (("length", 1.0), ("noise", 0.51)))]
    ids = {base.speaker_id, *(o.speaker_id for o in others)}
    assert len(ids) == 5
    assert base.settings == "piper en_US-joe-medium length=1 noise=0.5"
    assert base.speaker_id == tts.Speaker("piper", "en_US-joe-medium", base.controls).speaker_id
    v = syn.Voice("en-us", "m3", 150, 50)
    assert v.settings.startswith("espeak-ng ") and v.as_dict()["engine"] == "espeak-ng"


def test_warp_moves_pitch_by_the_factor():
    rate = 22050
    t = np.arange(rate) / rate
    x = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    assert abs(_peak_hz(tts.warp(x, rate, 1.0)) - 200) < 2
    assert abs(_peak_hz(tts.warp(x, rate, 1.1)) - 220) < 2
    # shorter (played faster); the source rate is rounded to 50 Hz: within 0.2 %
    assert abs(len(tts.warp(x, rate, 1.1)) - 16000 / 1.1) < 0.002 * 16000


def test_speakers_are_shared_evenly_and_engines_are_checked():
    assert syn.share_speakers(10, ["a", "b", "c"]) == {"a": 4, "b": 3, "c": 3}
    assert syn.share_speakers(10, ["a", "b", "c"], {"a": 2}) == {"a": 5, "b": 3, "c": 2}
    with pytest.raises(ParamsError, match="data.synthetic.engines"):
        config.with_overrides({"data": {"synthetic": {"engines": ["espeak-ng", "mbrola"]}}})
    with pytest.raises(ParamsError, match="engine_weights"):
        config.with_overrides({"data": {"synthetic": {"engine_weights": {"mbrola": 2}}}})
    with pytest.raises(ParamsError, match="none repeated"):
        config.with_overrides({"data": {"synthetic": {"engines": ["flite", "flite"]}}})


@needs_espeak
@needs_flite
def test_mixed_engines_give_speaker_disjoint_splits(tmp_path):
    out = tmp_path / "raw"
    out.mkdir()
    rep = syn.generate(out, words=["yes"], speakers=12, noise_files=1, noise_seconds=2.0, seed=3,
                       workers=1, progress=False, engines=["espeak-ng", "flite"], jitter=0.1,
                       only_words=["yes", "no"])
    sc.ensure_split_lists(out, 10, 10)
    assert rep["engines_used"] == ["espeak-ng", "flite"] and rep["engines_skipped"] == {}
    assert rep["speakers_per_engine"] == {"espeak-ng": 6, "flite": 6}
    voices = json.loads((out / syn.VOICES_FILE).read_text())
    assert len({v["speaker_id"] for v in voices}) == 12
    assert len({v["settings"] for v in voices}) == 12
    split_of = {}
    for v in voices:  # every speaker's clips land in one split, and each engine in every split
        sets = {sc.which_set(f"{w}/{v['speaker_id']}_nohash_0.wav", 10, 10) for w in ("yes", "no")}
        assert len(sets) == 1
        split_of[v["speaker_id"]] = (v["engine"], sets.pop())
    for engine in ("espeak-ng", "flite"):
        assert {s for e, s in split_of.values() if e == engine} == {"training", "validation",
                                                                    "testing"}
    listed = {}
    for name in ("validation_list.txt", "testing_list.txt"):
        listed[name] = {line.split("/")[1].split("_")[0]
                        for line in (out / name).read_text().split()}
    assert not listed["validation_list.txt"] & listed["testing_list.txt"]
    for p in (out / "no").glob("*.wav"):  # well-formed 1 s clips with speech in them
        import soundfile as sf

        x, rate = sf.read(p, dtype="float32")
        assert rate == 16000 and len(x) == 16000 and np.abs(x).max() > 0.05


@needs_espeak
def test_missing_engine_is_skipped_with_a_message(tmp_path, monkeypatch, capsys):
    flite = tts.Flite()
    flite._exe = None  # as on a machine without flite
    monkeypatch.setitem(tts._INSTANCES, "flite", flite)
    rep = syn.generate(tmp_path, speakers=3, noise_files=1, noise_seconds=2.0, seed=1, workers=1,
                       progress=False, engines=["flite", "espeak-ng"], only_words=["yes"])
    assert rep["engines_used"] == ["espeak-ng"]
    assert "apt-get install flite" in rep["engines_skipped"]["flite"]
    err = capsys.readouterr().err
    assert "skipping TTS engine flite" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setitem(tts._INSTANCES, "flite", flite)
    with pytest.raises(syn.ToolMissingError, match="^flite not found on PATH"):
        syn.generate(tmp_path / "x", speakers=3, progress=False, engines=["flite"])
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng either
    with pytest.raises(syn.ToolMissingError, match="none of data.synthetic.engines.*apt-get "
                       "install flite.*apt-get install espeak-ng"):
        syn.generate(tmp_path / "y", speakers=6, progress=False, engines=["flite", "espeak-ng"])


def _engine_or_skip(name):
    e = tts.engine(name)
    try:
        e.check()
    except syn.ToolMissingError as err:
        pytest.skip(str(err))
    return e


@pytest.mark.parametrize("name", ["flite", "piper", "hibari", "kokoro", "festival"])
def test_engine_is_deterministic_per_speaker_and_voices_differ(name):
    e = _engine_or_skip(name)
    rng = np.random.default_rng(0)
    a, b = e.draw(rng), e.draw(rng)
    assert a.engine == name and a.speaker_id != b.speaker_id
    e.begin(a, 5)
    x1 = e.speak("seven", a)
    e.begin(a, 5)
    x2 = e.speak("seven", a)
    e.begin(b, 5)
    y = e.speak("seven", b)
    assert x1.dtype == np.float32 and 0.2 * 16000 < len(x1) < 1.5 * 16000
    assert np.abs(x1).max() > 0.01
    assert np.array_equal(x1, x2)
    assert not (len(x1) == len(y) and np.allclose(x1, y))
    e.begin(a, 5)
    slow = e.speak("seven", a, speed=0.7)
    assert len(slow) > 1.2 * len(x1)  # the speed control reaches the engine


def test_bench_variants_differ_only_in_engines_and_augmentation():
    from pathlib import Path

    from kws.bench.tts import ISSUE9_ENGINES, ISSUE9_SPEED, variant_params
    from kws.data.augment import Strong

    raw = config._yaml12().load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    a = config.parse(variant_params(raw, "a", 30, 3, 1))
    b = config.parse(variant_params(raw, "b", 30, 3, 1))
    c = config.parse(variant_params(raw, "c", 30, 3, 1, seed=2))
    assert a.data.synthetic.engines == ["espeak-ng"] and a.data.synthetic.jitter == 0
    assert Strong.from_params(a.features.augment) is None
    assert b.data.synthetic.engines == ISSUE9_ENGINES
    assert Strong.from_params(b.features.augment) is not None
    assert list(b.features.augment.speed) == ISSUE9_SPEED == [0.85, 1.15]
    assert c.features.augment.speed == config.parse(raw).features.augment.speed
    default = config.parse(raw)
    assert c.data == default.data.model_copy(update={"synthetic": default.data.synthetic.model_copy(
        update={"speakers": 30})})
    assert c.train.seed == 2 and b.train.seed == default.train.seed
    fields = config.SyntheticParams.model_fields  # every issue-16 key off, as its code default
    for key in ISSUE16_OFF:
        assert getattr(a.data.synthetic, key) == getattr(b.data.synthetic, key) == \
            fields[key].default
    assert not a.features.augment.fresh_unknown and not b.features.augment.fresh_unknown
    for p in (a, b, c):
        assert (p.data.synthetic.speakers, p.train.epochs, p.features.augment.copies) == (30, 3, 1)
    assert a.model == b.model == c.model and a.train == b.train
    assert a.data.synthetic.model_copy(update={"engines": [], "jitter": 0}) == \
        b.data.synthetic.model_copy(update={"engines": [], "jitter": 0})


def test_bench_keeps_the_other_variant_only_when_its_params_are_unchanged(tmp_path):
    import copy
    import json
    from pathlib import Path

    from kws.bench.tts import params_digest, reusable, variant_params

    raw = config._yaml12().load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    a = config.parse(variant_params(raw, "a", 30, 3, 1))
    changed = copy.deepcopy(raw)
    changed["features"]["augment"]["time_shift_ms"] = 50  # a basic key: (a) uses it too
    a2 = config.parse(variant_params(changed, "a", 30, 3, 1))
    stronger = copy.deepcopy(raw)
    stronger["features"]["augment"]["snr_db"] = [-5, 20]  # a strong key: (a) leaves it out
    a3 = config.parse(variant_params(stronger, "a", 30, 3, 1))
    assert params_digest(a) != params_digest(a2)
    assert params_digest(a) == params_digest(a3)
    out = tmp_path / "tts.json"
    out.write_text(json.dumps({"a": {"runs": [{"seed": 0, "real_sample_accuracy": 0.5,
                                                "params_digest": params_digest(a)}]}}))
    assert reusable(out, "a", params_digest(a3), 0)["real_sample_accuracy"] == 0.5
    assert reusable(out, "a", params_digest(a3), 1) is None
    assert reusable(out, "a", params_digest(a2), 0) is None
    assert reusable(out, "a", params_digest(a2)) is None
    assert reusable(out, "b", params_digest(a)) is None
    assert reusable(tmp_path / "missing.json", "a", params_digest(a)) is None

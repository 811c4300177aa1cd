"""The espeak-ng data set: deterministic, speaker-disjoint, well-formed clips, clear tool errors."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from kws.config import SPEECH_COMMANDS_WORDS
from kws.data import speech_commands as sc
from kws.data import synthetic as syn
from kws.errors import ToolMissingError
from test_voices import ISSUE16_OFF

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "stages" / "download.py"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

TINY = {"words": ["yes", "marmalade"], "speakers": 3, "noise_files": 4, "noise_seconds": 2.0,
        "seed": 7}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny run in-process, one worker."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    out = tmp_path_factory.mktemp("syn") / "raw"
    out.mkdir()
    report = syn.generate(out, workers=1, progress=False, **TINY)
    sc.ensure_split_lists(out, 10, 10)
    return out, report


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@needs_espeak
def test_same_params_give_the_same_bytes_with_any_worker_count(tiny, tmp_path):
    out, _ = tiny
    s = TINY
    params = {"data": {"words": s["words"], "seed": s["seed"], "synthetic": {
        "speakers": s["speakers"], "noise_files": s["noise_files"],
        "noise_seconds": s["noise_seconds"], "workers": 2, "engines": ["espeak-ng"],
        "jitter": 0.0,
        # params.yaml's issue-16 settings would apply (a params file is merged over it): off,
        # as in the in-process run
        **ISSUE16_OFF}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    r = subprocess.run([sys.executable, str(STAGE), "--quiet"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    a, b = _files(out), _files(tmp_path / "data" / "raw")
    assert len(a) == 3 * 36 + 4 + 3  # clips, noise files, voices json + 2 lists
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    m = json.loads((tmp_path / "reports" / "data" / "metrics.json").read_text())
    assert m["source"] == "synthetic"
    assert m["speakers"] == {"train": 1, "validation": 1, "test": 1}
    assert m["clips"]["total"] == 108 and m["clips_per_word"]["marmalade"]["test"] == 1
    assert m["background_noise_files"] == 4 and m["skipped"]["count"] == 0
    assert m["synthetic"]["extra_words"] == ["marmalade"] and m["seconds"] > 0


@needs_espeak
def test_another_seed_gives_other_voices():
    exe = syn.espeak_path()
    langs, variants = syn.english_voices(exe), syn.voice_variants(exe)
    a = syn.draw_voices(20, 1, langs, variants)
    assert a == syn.draw_voices(20, 1, langs, variants)
    assert a != syn.draw_voices(20, 2, langs, variants)
    assert len({v.speaker_id for v in a}) == 20


@needs_espeak
def test_voice_pool_is_english_without_mbrola_and_has_the_variants():
    exe = syn.espeak_path()
    langs = syn.english_voices(exe)
    assert "en-us" in langs and "en-gb" in langs and all(l.startswith("en") for l in langs)
    out = subprocess.run([exe, "--voices=en"], capture_output=True, text=True).stdout
    mbrola_only = {l.split()[3] for l in out.splitlines()[1:] if " mb/" in l}
    assert not mbrola_only & set(langs)  # voice names like us-mbrola-1 never used
    variants = syn.voice_variants(exe)
    assert {"m1", "m7", "f1", "f5", "klatt", "croak", "whisper"} <= set(variants)
    assert all(" " not in v for v in variants)


@needs_espeak
def test_splits_are_speaker_disjoint_and_ids_come_from_the_settings(tiny):
    out, _ = tiny
    voices = json.loads((out / syn.VOICES_FILE).read_text())
    for v in voices:  # independent: sha1 of the settings string
        assert v["speaker_id"] == hashlib.sha1(v["settings"].encode()).hexdigest()[:8]
    val = sc.read_list(out / "validation_list.txt")
    test = sc.read_list(out / "testing_list.txt")
    split = {}
    for c in sc.list_clips(out):
        s = "validation" if c in val else "test" if c in test else "train"
        split.setdefault(sc.speaker_of(c), set()).add(s)
    assert sorted(split) == sorted(v["speaker_id"] for v in voices)
    assert all(len(s) == 1 for s in split.values())
    assert sorted(next(iter(s)) for s in split.values()) == ["test", "train", "validation"]


@needs_espeak
def test_every_clip_is_one_second_16k_mono_16bit_and_not_silent(tiny):
    out, _ = tiny
    words = sorted({c.split("/")[0] for c in sc.list_clips(out)})
    assert words == sorted(SPEECH_COMMANDS_WORDS + ["marmalade"])
    for c in sc.list_clips(out):
        info = sf.info(out / c)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 16000), c
        x, _ = sf.read(out / c, dtype="float32")
        peak = np.abs(x).max()
        assert 0.1 <= peak <= 0.95, c
        frames = np.sqrt((x.reshape(100, 160) ** 2).mean(axis=1))
        loud = (frames > 0.1 * frames.max()).sum()
        assert loud >= 10, f"{c}: only {loud} loud 10 ms frames"  # a word, not a click
        assert frames.min() > 0, c  # the noise floor: never digitally silent


@needs_espeak
def test_the_custom_word_is_really_spoken(tiny):
    """Independent reference: espeak-ng called here directly, resampled with scipy."""
    from scipy.signal import correlate, resample_poly

    out, _ = tiny
    v = json.loads((out / syn.VOICES_FILE).read_text())[0]
    ref_path = out.parent / "ref.wav"
    subprocess.run(["espeak-ng", "-v", f"{v['language']}+{v['variant']}", "-s", str(v["speed"]),
                    "-p", str(v["pitch"]), "-w", str(ref_path), "marmalade"], check=True)
    ref, rate = sf.read(ref_path, dtype="float64")
    assert rate == 22050
    ref = resample_poly(ref, 320, 441)
    clip, _ = sf.read(out / "marmalade" / f"{v['speaker_id']}_nohash_0.wav", dtype="float64")
    other, _ = sf.read(out / "marvin" / f"{v['speaker_id']}_nohash_0.wav", dtype="float64")

    def match(x):
        c = correlate(x, ref, mode="full")
        return np.abs(c).max() / (np.linalg.norm(x) * np.linalg.norm(ref))

    assert match(clip) > 0.95
    assert match(other) < 0.7


@needs_espeak
def test_noise_files_are_long_16k_and_differently_coloured(tiny):
    out, report = tiny
    noise = out / sc.BACKGROUND_NOISE_DIR
    assert sorted(p.name for p in noise.iterdir()) == sorted(
        ["white_noise.wav", "pink_noise.wav", "brown_noise.wav", "babble.wav"])
    low_high = {}
    for p in noise.iterdir():
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 32000)
        x, _ = sf.read(p, dtype="float64")
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / 16000)
        low_high[p.stem] = spec[(f > 50) & (f < 500)].mean() / spec[(f > 2000) & (f < 7000)].mean()
    assert 0.5 < low_high["white_noise"] < 2
    assert low_high["white_noise"] < low_high["pink_noise"] < low_high["brown_noise"]
    assert low_high["babble"] > 10  # speech: energy in the low bands


def test_mains_hum_peaks_at_50_or_60_hz_and_fan_and_tap_are_noise():
    x = syn.make_noise("hum", 2.0, seed=3, index=5)
    spec = np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    f0 = f[np.argmax(spec[f < 200])]
    assert f0 in (50.0, 60.0)
    for kind in ("fan", "tap"):
        y = syn.make_noise(kind, 2.0, seed=3, index=6)
        assert len(y) == 32000 and abs(np.sqrt(np.mean(y.astype(np.float64) ** 2)) - syn.NOISE_RMS) < 0.01
    assert np.array_equal(syn.make_noise("fan", 2.0, 3, 6), syn.make_noise("fan", 2.0, 3, 6))
    assert not np.array_equal(syn.make_noise("fan", 2.0, 3, 6), syn.make_noise("fan", 2.0, 4, 6))


def test_noise_plan_cycles_the_kinds():
    plan = syn.noise_plan(9)
    assert [k for _, k in plan[:7]] == list(syn.NOISE_KINDS)
    assert plan[7] == ("white_noise_2.wav", "white") and len({n for n, _ in plan}) == 9


def test_trim_silence_keeps_the_word():
    x = np.zeros(16000, np.float32)
    x[5000:9000] = 0.5 * np.sin(np.arange(4000) * 0.3)
    y = syn.trim_silence(x)
    assert 4000 <= len(y) <= 4000 + 2 * 160 + 160


def test_split_quota_gives_every_split_a_speaker():
    assert syn.split_quota(3, 10, 10) == {"training": 1, "validation": 1, "testing": 1}
    assert syn.split_quota(200, 10, 10) == {"training": 160, "validation": 20, "testing": 20}


def test_word_list_is_the_35_then_extra_words():
    assert syn.word_list(["yes", "marmalade"]) == SPEECH_COMMANDS_WORDS + ["marmalade"]


def test_missing_espeak_is_a_tool_error_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no espeak-ng on it
    with pytest.raises(ToolMissingError) as err:
        syn.generate(tmp_path / "out", speakers=3, progress=False)
    msg = str(err.value)
    assert "espeak-ng" in msg and "apt-get install espeak-ng" in msg and "make run" in msg
    assert "\n" not in msg


def test_missing_espeak_in_the_stage_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("data: {synthetic: {speakers: 3, engines: [espeak-ng]}}\n")
    r = subprocess.run([sys.executable, str(STAGE), "--quiet"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, env={"PATH": str(tmp_path), "HOME": str(tmp_path),
                                                   "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: espeak-ng not found") and r.stderr.count("\n") == 1
    assert "apt-get install espeak-ng" in r.stderr
    assert not (tmp_path / "data" / "raw").exists()

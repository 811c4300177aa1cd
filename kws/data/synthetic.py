"""The offline data set: Speech Commands words spoken by TTS engines (``data.source: synthetic``).

``engines`` (``data.synthetic.engines``) lists the engines to use: espeak-ng (below) and the
engines of ``kws.data.tts`` (flite, piper, hibari, kokoro, festival). The speakers are shared
out among the engines that are installed, evenly or by ``engine_weights``; each speaker says
the keywords and ``other_words`` other words (``speaker_words``), may be formant-warped and
have its own prosody range, and its clips pass the intelligibility filter
(``kws.data.intelligibility``) when one is set. A missing engine is skipped with a one-line
message, recorded in
the report (``engines_used``, ``engines_skipped``). Every engine's speakers get their own
train/validation/test quota, so each split hears every engine. ``jitter`` moves each clip's
speed and pitch by up to that fraction around its speaker's own.

The espeak-ng speakers:

Each *speaker* is one combination of espeak-ng settings, drawn deterministically from
``data.seed``: an English voice (the non-mbrola ones from ``espeak-ng --voices=en``), a voice
variant (``espeak-ng --voices=variant``: m1..m8, f1..f5, klatt, croak, whisper, ...), a speed
(words per minute) and a pitch. The speaker id is the first 8 hex digits of the sha1 of those
settings, and clips are named ``<word>/<speakerid>_nohash_0.wav``, so the Speech Commands hash
split puts all clips of a voice in one split, as in the real set.

Each clip: the word is spoken (22,050 Hz), resampled to 16 kHz (polyphase, no dither), trimmed of
leading and trailing silence, scaled to a random peak level, placed at a random offset in 1 s,
and given a very low random noise floor (real recordings are never digitally silent).
``_background_noise_/`` gets generated noises: white, pink, brown, babble (overlapped synthetic
talkers saying non-keywords), a running fan, mains hum with harmonics, a running tap.

Same params and the same espeak-ng installation -> the same bytes, however many workers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Optional, Sequence

import numpy as np

from kws.audio import pad_or_trim, resample, write_wav
from kws.config import SPEECH_COMMANDS_WORDS
from kws.data.speech_commands import BACKGROUND_NOISE_DIR, which_set
from kws.errors import DataError, ParamsError, ToolMissingError

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s
MAX_WORD_SAMPLES = int(0.95 * SAMPLE_RATE)  # a longer word is spoken again, faster
PEAK_DBFS = (-18.0, -1.0)  # random peak level of the word
FLOOR_DBFS = (-75.0, -55.0)  # random RMS of the white noise floor under the word
NOISE_RMS = 0.1  # background noise files are scaled to this RMS (-20 dBFS)
NOISE_KINDS = ("white", "pink", "brown", "babble", "fan", "hum", "tap")
NOISE_FILE_NAMES = {"white": "white_noise", "pink": "pink_noise", "brown": "brown_noise",
                    "babble": "babble", "fan": "running_fan", "hum": "mains_hum",
                    "tap": "running_tap"}
VOICES_FILE = "synthetic_voices.json"
# Everyday words for babble: none of them is a Speech Commands word.
_FILLER = (
    "the and of to in is that it was for with as his they be at have this from by hot word but "
    "what some we can other were all there when your how said an each she which their time if "
    "will way about many then them would like so these her long make thing see him has look more "
    "day could come did number sound most people my over know water than call first who may side "
    "been now find any new work part take get place made live where after little only round man "
    "year came show every good me give our under name very through just form sentence great think "
    "say help low line turn cause much mean before move boy old same tell does set want air well "
    "also play small end put home read hand port large spell add even land here must big high such"
).split()

# Everyday words for the _unknown_ pool (data.synthetic.everyday_words): common one- and
# two-syllable words, none a Speech Commands word, none a homophone or a one-sound change of a
# keyword (no "know", "write", "town", "cup", "nose", "light", "shop").
EVERYDAY_WORDS = (
    "apple baby ball bank bath beach bean bell bike black blue boat bone book box bread bridge "
    "brown bus cake car card chair cheese chicken city clock cloud coat coffee cold corn cow dance "
    "dark desk door dream dress drink duck earth egg face farm fish flag floor flower fork friend "
    "frog fruit game garden girl glass gold grass green hair hat heart hill horse ice jacket juice "
    "key king kitchen lamp leaf lemon lion lunch map milk money moon morning mouse music ocean "
    "orange paper party pencil pig pink plant plate queen rain river road rock room rose salt sand "
    "school sea shirt shoe sister sky sleep snow sock song spoon star street sugar summer sun "
    "table tea teacher tiger tooth toy train truck water window winter yellow"
).split()

_INSTALL_HINT = ("install it with `apt-get install espeak-ng` (`make run` installs it when run as "
                 "root), or use data.source: speech_commands or folder")


# --- espeak-ng --------------------------------------------------------------------------------
def espeak_path() -> str:
    """The espeak-ng executable on PATH, or ``ToolMissingError`` saying how to install it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ToolMissingError(f"espeak-ng not found on PATH (data.source: synthetic speaks the "
                               f"words with it); {_INSTALL_HINT}")
    return exe


def _espeak(exe: str, args: Sequence[str], text: Optional[str] = None) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run([exe, *args], input=None if text is None else text.encode("utf-8"),
                           capture_output=True, timeout=300)
    except FileNotFoundError:
        raise ToolMissingError(f"espeak-ng not found at {exe}; {_INSTALL_HINT}") from None
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise DataError(f"espeak-ng {' '.join(args)} failed (exit {r.returncode}): "
                        f"{err[0] if err else 'no message'}")
    return r


def english_voices(exe: str) -> list[str]:
    """English espeak-ng voices that need no mbrola (language codes, sorted)."""
    out = _espeak(exe, ["--voices=en"]).stdout.decode(errors="replace")
    langs = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[1].startswith("en") and not cols[4].startswith("mb/"):
            langs.add(cols[1])
    return sorted(langs)


def voice_variants(exe: str) -> list[str]:
    """espeak-ng voice variant names (``!v/NAME``; names with spaces left out), sorted."""
    out = _espeak(exe, ["--voices=variant"]).stdout.decode(errors="replace")
    names = set()
    for line in out.splitlines()[1:]:
        i = line.find("!v/")
        if i < 0:
            continue
        name = re.match(r"(.*?)(\s{2,}|\s*$)", line[i + 3:]).group(1)
        if name and " " not in name:
            names.add(name)
    return sorted(names)


def espeak_version(exe: str) -> str:
    out = _espeak(exe, ["--version"]).stdout.decode(errors="replace").strip()
    m = re.search(r"text-to-speech:\s*(\S+)", out)
    return m.group(1) if m else out.splitlines()[0] if out else "unknown"


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: espeak-ng settings."""

    engine: ClassVar[str] = "espeak-ng"
    language: str
    variant: str
    speed: int  # words per minute
    pitch: int  # 0..99
    formant: Optional[float] = None  # vocal-tract warp of the output (kws.data.tts.formant_warp)
    prosody: Optional[float] = None  # this speaker's per-clip jitter, times data.synthetic.jitter

    @property
    def settings(self) -> str:
        f = "" if self.formant is None else f" formant={self.formant:g}"
        f += "" if self.prosody is None else f" prosody={self.prosody:g}"
        return f"espeak-ng -v {self.language}+{self.variant} -s {self.speed} -p {self.pitch}{f}"

    @property
    def speaker_id(self) -> str:
        return hashlib.sha1(self.settings.encode()).hexdigest()[:8]

    def args(self, speed: Optional[int] = None, pitch: Optional[int] = None) -> list[str]:
        return ["-v", f"{self.language}+{self.variant}", "-s", str(speed or self.speed),
                "-p", str(self.pitch if pitch is None else pitch)]

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("formant", "prosody"):
            if d[k] is None:
                d.pop(k)
        return {"engine": self.engine, **d}

    def get(self, name: str, default=None):
        return getattr(self, name, default)


def split_quota(n: int, validation_percentage: float, testing_percentage: float) -> dict[str, int]:
    """Speakers per ``which_set`` split: the percentages, rounded, at least one each (n >= 3)."""
    val = max(1, round(n * validation_percentage / 100))
    test = max(1, round(n * testing_percentage / 100))
    if n - val - test < 1:
        raise ParamsError(f"data.synthetic.speakers = {n}: too few for a train, a validation and a "
                          "test speaker")
    return {"training": n - val - test, "validation": val, "testing": test}


def draw_voices(n: int, seed: int, languages: Sequence[str], variants: Sequence[str],
                speed_wpm: tuple[int, int] = (110, 210), pitch: tuple[int, int] = (20, 80),
                validation_percentage: float = 10.0, testing_percentage: float = 10.0,
                formant: Optional[tuple[float, float]] = None,
                prosody: Optional[tuple[float, float]] = None) -> list[Voice]:
    """``n`` distinct voices (distinct speaker ids), drawn deterministically from ``seed``.

    A voice's split follows from its speaker id (``which_set``); draws whose split already has
    its share (``split_quota``) are passed over, so every split gets speakers in the asked
    proportions, even for a handful of speakers.
    """
    quota = split_quota(n, validation_percentage, testing_percentage)
    if not languages or not variants:
        raise DataError("espeak-ng lists no English voice or no variant; reinstall espeak-ng "
                        "(`apt-get install --reinstall espeak-ng espeak-ng-data`)")
    combos = len(languages) * len(variants) * (speed_wpm[1] - speed_wpm[0] + 1) * (pitch[1] - pitch[0] + 1)
    if n > combos // 2:
        raise ParamsError(f"data.synthetic.speakers = {n}: at most {combos // 2} distinct voices "
                          "with these speed/pitch ranges; widen them or ask for fewer speakers")
    rng = np.random.default_rng([seed, 0x5EED])
    voices, ids = [], set()
    while len(voices) < n:
        v = Voice(language=str(languages[rng.integers(len(languages))]),
                  variant=str(variants[rng.integers(len(variants))]),
                  speed=int(rng.integers(speed_wpm[0], speed_wpm[1] + 1)),
                  pitch=int(rng.integers(pitch[0], pitch[1] + 1)),
                  formant=None if formant is None else round(float(rng.uniform(*formant)), 2),
                  prosody=None if prosody is None else round(float(rng.uniform(*prosody)), 2))
        split = which_set(f"{v.speaker_id}_nohash_0.wav", validation_percentage, testing_percentage)
        if v.speaker_id not in ids and quota[split] > 0:
            ids.add(v.speaker_id)
            quota[split] -= 1
            voices.append(v)
    return voices


def draw_engine_speakers(eng, n: int, seed: int, validation_percentage: float = 10.0,
                         testing_percentage: float = 10.0,
                         formant: Optional[tuple[float, float]] = None,
                         prosody: Optional[tuple[float, float]] = None) -> list:
    """``n`` distinct speakers of a ``kws.data.tts`` engine, drawn from ``seed``, with the same
    per-split quota as ``draw_voices``; ``formant``: each also gets a vocal-tract (formant)
    warp factor drawn in this range."""
    from kws.data.tts import Speaker

    quota = split_quota(n, validation_percentage, testing_percentage)
    rng = np.random.default_rng([seed, 0x5EED, int(hashlib.sha1(eng.name.encode()).hexdigest()[:8], 16)])
    out, ids = [], set()
    for _ in range(200 * n + 1000):
        if len(out) == n:
            break
        sp = eng.draw(rng)
        extra = []
        if formant is not None:
            extra.append(("formant", round(float(rng.uniform(*formant)), 2)))
        if prosody is not None:
            extra.append(("prosody", round(float(rng.uniform(*prosody)), 2)))
        if extra:
            sp = Speaker(sp.engine, sp.voice, (*sp.controls, *extra))
        split = which_set(f"{sp.speaker_id}_nohash_0.wav", validation_percentage, testing_percentage)
        if sp.speaker_id not in ids and quota[split] > 0:
            ids.add(sp.speaker_id)
            quota[split] -= 1
            out.append(sp)
    if len(out) < n:
        raise ParamsError(f"data.synthetic.speakers: {eng.name} has too few distinct voices for "
                          f"{n} speakers; ask for fewer")
    return out


def share_speakers(n: int, engines: Sequence[str],
                   weights: Optional[dict] = None) -> dict[str, int]:
    """``n`` speakers shared out among ``engines``: evenly (the first ones get the remainder),
    or in proportion to ``weights`` (engine -> weight, 1 for an engine not named; largest
    remainders first)."""
    k = len(engines)
    if not weights:
        return {e: n // k + (i < n % k) for i, e in enumerate(engines)}
    w = np.array([float(weights.get(e, 1.0)) for e in engines])
    exact = n * w / w.sum()
    out = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - out), kind="stable")[: n - int(out.sum())]:
        out[i] += 1
    return {e: int(c) for e, c in zip(engines, out)}


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng's --stdout wav (its size fields are placeholders): int16 mono -> float32."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DataError("espeak-ng wrote no wav data")
    rate = int.from_bytes(data[24:28], "little")
    i = data.find(b"data", 12)
    if i < 0:
        raise DataError("espeak-ng wrote a wav without a data chunk")
    pcm = data[i + 8:]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate


def speak(text: str, voice: Voice, exe: str, speed: Optional[int] = None,
          pitch: Optional[int] = None) -> np.ndarray:
    """``text`` spoken by ``voice``, as float32 at 16 kHz (resampled without dither)."""
    r = _espeak(exe, [*voice.args(speed, pitch), "--stdin", "--stdout"], text=text)
    x, rate = _parse_wav(r.stdout)
    return resample(x, rate, SAMPLE_RATE)


def trim_silence(x: np.ndarray, threshold_db: float = -40.0, frame: int = 160,
                 pad: int = 160) -> np.ndarray:
    """Cut leading/trailing frames (10 ms) quieter than ``threshold_db`` below the loudest one."""
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    if rms.max() <= 0:
        return x[:0]
    loud = np.nonzero(rms >= rms.max() * 10 ** (threshold_db / 20))[0]
    start = max(0, loud[0] * frame - pad)
    stop = min(len(x), (loud[-1] + 1) * frame + pad)
    return x[start:stop]


def _rng(seed: int, *keys: str) -> np.random.Generator:
    ints = [int(hashlib.sha1(k.encode()).hexdigest()[:8], 16) for k in keys]
    return np.random.default_rng([seed, *ints])


def clip_jitter(word: str, voice, seed: int, jitter: float, attempt: int = 0) -> tuple[float, float]:
    """(speed, pitch) factors of one clip: uniform(1 +- jitter x the speaker's prosody)."""
    jitter = min(0.45, jitter * float(voice.get("prosody") or 1.0))
    if jitter <= 0:
        return 1.0, 1.0
    keys = (voice.speaker_id, word, "jitter") + ((str(attempt),) if attempt else ())
    s_j, p_j = (float(v) for v in _rng(seed, *keys).uniform(1 - jitter, 1 + jitter, size=2))
    return s_j, p_j


def make_clip(word: str, voice, seed: int, exe: Optional[str], jitter: float = 0.0,
              attempt: int = 0, info: Optional[dict] = None) -> tuple[np.ndarray, int]:
    """1 s at 16 kHz of ``voice`` saying ``word``; also how many times it had to speed up.

    ``voice``: an espeak-ng ``Voice`` (``exe`` its executable) or a ``kws.data.tts.Speaker``.
    ``jitter``: this clip's speed and pitch are the speaker's times uniform(1 +- jitter).
    ``attempt`` > 0 (a re-synthesis after the intelligibility filter) draws the jitter afresh.
    A speaker with a ``formant`` setting has its vocal tract warped (``tts.formant_warp``);
    one with ``prosody`` varies its clips that many times ``jitter`` (monotone to lively).
    ``info``, when given, gets ``offset`` and ``length`` of the word inside the clip."""
    from kws.data.tts import formant_warp

    text = word.replace("_", " ").replace("-", " ")
    s_j, p_j = clip_jitter(word, voice, seed, jitter, attempt)
    formant = voice.get("formant")
    faster = 0
    while True:
        if isinstance(voice, Voice):
            speed = min(450, round(voice.speed * s_j * 1.3 ** faster))
            pitch = int(np.clip(round(voice.pitch * p_j), 0, 99))
            y = speak(text, voice, exe, speed, pitch)
            top = speed >= 450
        else:
            from kws.data.tts import engine

            y = engine(voice.engine).speak(text, voice, s_j * 1.3 ** faster, p_j)
            top = faster >= 6
        if formant is not None and len(y):
            y = formant_warp(y, float(formant)).astype(np.float32)
        y = trim_silence(y)
        if len(y) <= MAX_WORD_SAMPLES or top:
            break
        faster += 1
    if len(y) == 0 or np.max(np.abs(y)) == 0:
        raise DataError(f"{voice.settings} produced silence for '{word}'")
    y = y[:MAX_WORD_SAMPLES]
    rng = _rng(seed, voice.speaker_id, word)
    y = y * (10 ** (rng.uniform(*PEAK_DBFS) / 20) / np.max(np.abs(y)))
    offset = int(rng.integers(0, CLIP_SAMPLES - len(y) + 1))
    clip = pad_or_trim(y.astype(np.float32), CLIP_SAMPLES, offset)
    floor = 10 ** (rng.uniform(*FLOOR_DBFS) / 20)
    clip = clip + (rng.standard_normal(CLIP_SAMPLES) * floor).astype(np.float32)
    if info is not None:
        info.update(offset=offset, length=len(y))
    return clip, faster


# --- background noise -------------------------------------------------------------------------
def _colored(rng: np.random.Generator, n: int, exponent: float, fmin: float = 20.0) -> np.ndarray:
    """Noise with power ~ 1/f^exponent (0 white, 1 pink, 2 brown), flat below ``fmin``."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec *= 1.0 / np.maximum(f, fmin) ** (exponent / 2)
    spec[0] = 0
    return np.fft.irfft(spec, n)


def _normalize(x: np.ndarray, rms: float = NOISE_RMS) -> np.ndarray:
    x = x - x.mean()
    x = x * (rms / max(np.sqrt(np.mean(x ** 2)), 1e-12))
    return np.clip(x, -0.99, 0.99).astype(np.float32)


def make_noise(kind: str, seconds: float, seed: int, index: int, exe: Optional[str] = None,
               voices: Sequence[Voice] = ()) -> np.ndarray:
    """``seconds`` of one background noise ``kind`` (see ``NOISE_KINDS``) at 16 kHz."""
    from scipy.signal import butter, sosfilt

    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    rng = _rng(seed, "noise", kind, str(index))
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _colored(rng, n, 1.0)
    elif kind == "brown":
        x = _colored(rng, n, 2.0)
    elif kind == "hum":  # mains hum: 50 or 60 Hz, odd harmonics strong (transformer buzz)
        f0 = float(rng.choice([50.0, 60.0]))
        drift = np.cumsum(rng.standard_normal(n)) * 1e-6  # slow phase wander
        x = np.zeros(n)
        for k in range(1, 16):
            amp = (1.0 if k % 2 else 0.35) / k * rng.uniform(0.5, 1.5)
            x += amp * np.sin(2 * np.pi * k * f0 * t + k * drift + rng.uniform(0, 2 * np.pi))
        x = x / np.sqrt(np.mean(x ** 2)) + 0.03 * rng.standard_normal(n)
    elif kind == "fan":  # low-passed pink noise, blade-pass tone, rotation-rate modulation
        lp = butter(2, rng.uniform(400, 1500), "low", fs=SAMPLE_RATE, output="sos")
        air = sosfilt(lp, _colored(rng, n, 1.0))
        air /= np.sqrt(np.mean(air ** 2))
        blade = rng.uniform(40, 120)
        tone = sum(rng.uniform(0.2, 1) / k * np.sin(2 * np.pi * k * blade * t + rng.uniform(0, 6.3))
                   for k in (1, 2, 3))
        rot = blade / int(rng.integers(3, 8))
        x = air * (1 + 0.25 * np.sin(2 * np.pi * rot * t)) + 0.4 * tone
    elif kind == "tap":  # running water: band-passed noise with a fast random envelope
        bp = butter(2, [rng.uniform(400, 900), rng.uniform(3000, 6000)], "band", fs=SAMPLE_RATE,
                    output="sos")
        env = sosfilt(butter(1, rng.uniform(6, 15), "low", fs=SAMPLE_RATE, output="sos"),
                      rng.standard_normal(n))
        env = 1 + 0.6 * env / (np.std(env) + 1e-12)
        x = sosfilt(bp, rng.standard_normal(n)) * np.clip(env, 0.1, None)
    elif kind == "babble":  # 4-7 synthetic talkers saying everyday (non-keyword) words, overlapped
        if exe is None or not voices:
            raise DataError("babble noise needs espeak-ng and the voice list")
        x = np.zeros(n)
        for _ in range(int(rng.integers(4, 8))):
            v = voices[int(rng.integers(len(voices)))]
            words = rng.choice(_FILLER, size=int(seconds * v.speed / 60 * 1.1) + 5)
            s = trim_silence(speak(" ".join(words), v, exe))
            if len(s) == 0:
                continue
            s = np.tile(s, int(np.ceil(n / len(s))))
            s = np.roll(s, int(rng.integers(len(s))))[:n]
            x += s / (np.sqrt(np.mean(s ** 2)) + 1e-12)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; one of {NOISE_KINDS}")
    return _normalize(x)


def noise_plan(noise_files: int) -> list[tuple[str, str]]:
    """(file name, kind) of each background noise file, cycling through ``NOISE_KINDS``."""
    out = []
    for i in range(noise_files):
        kind = NOISE_KINDS[i % len(NOISE_KINDS)]
        rep = i // len(NOISE_KINDS)
        out.append((f"{NOISE_FILE_NAMES[kind]}{'' if rep == 0 else f'_{rep + 1}'}.wav", kind))
    return out


# --- the generator ----------------------------------------------------------------------------
def _task(task: dict) -> dict:
    out = Path(task["out"])
    if task["type"] == "speaker":
        cpu0 = time.process_time()
        v = task["voice"]
        if not isinstance(v, Voice):
            from kws.data.tts import engine

            engine(v.engine).begin(v, task["seed"])
        rec = None
        if task.get("filter"):
            from kws.data.intelligibility import recognizer

            rec = recognizer(task["filter"], tuple(task["vocabulary"]), tuple(task["base"]),
                             tuple(task["keywords"]))
        faster = rejected = dropped = resynth = 0
        for word in task["words"]:
            for attempt in range(1 + (task.get("retries", 0) if rec else 0)):
                info: dict = {}
                clip, f = make_clip(word, v, task["seed"], task["exe"], task.get("jitter", 0.0),
                                    attempt, info)
                if rec is None or rec.heard(clip, info, word):
                    write_wav(out / word / f"{v.speaker_id}_nohash_0.wav", clip)
                    faster += f > 0
                    resynth += attempt > 0
                    break
                rejected += 1
            else:
                dropped += 1
        return {"clips": len(task["words"]), "faster": faster, "engine": v.engine,
                "rejected": rejected, "dropped": dropped, "resynthesized": resynth,
                "written": len(task["words"]) - dropped,
                "cpu_ms": round(1000 * (time.process_time() - cpu0))}
    x = make_noise(task["kind"], task["seconds"], task["seed"], task["index"], task["exe"],
                   task["voices"])
    write_wav(out / BACKGROUND_NOISE_DIR / task["name"], x)
    return {"clips": 1, "faster": 0}


def generate_from_params(out_dir: str | Path, d, progress: bool = True) -> dict:
    """``generate`` with the ``data:`` params (``kws.config.DataParams``)."""
    s = d.synthetic
    return generate(out_dir, words=d.words, speakers=s.speakers, noise_files=s.noise_files,
                    noise_seconds=s.noise_seconds, seed=d.seed, workers=s.workers,
                    speed_wpm=s.speed_wpm, pitch=s.pitch,
                    validation_percentage=d.validation_percentage,
                    testing_percentage=d.testing_percentage, progress=progress,
                    engines=s.engines, jitter=s.jitter, engine_weights=s.engine_weights,
                    other_words=s.other_words, everyday_words=s.everyday_words,
                    formant=s.formant, prosody=s.prosody, intelligibility=s.intelligibility,
                    retries=s.retries)


def _filter_report(name: Optional[str], retries: int, per_engine: dict,
                   vocabulary: Sequence[str]) -> dict:
    """Clips spoken, rejected by the recognizer, re-spoken and dropped, per engine."""
    if not name:
        return {"recognizer": None}
    from kws.data.intelligibility import recognizer

    rep = {"recognizer": name, "retries": retries,
           "unchecked_words": recognizer(name, tuple(vocabulary)).unchecked, "per_engine": {}}
    for eng, c in sorted(per_engine.items()):
        n = max(1, c["clips"])
        first = c["resynthesized"] + c["dropped"]  # every clip not kept at its first try
        rep["per_engine"][eng] = {"clips": c["clips"], "rejected_first_try": first,
                                  "rejected_share": round(first / n, 4),
                                  "resynthesized": c["resynthesized"], "dropped": c["dropped"],
                                  "dropped_share": round(c["dropped"] / n, 4)}
    total = sum(c["clips"] for c in per_engine.values())
    rep["dropped_share"] = round(sum(c["dropped"] for c in per_engine.values()) / max(1, total), 4)
    return rep


def word_list(words: Sequence[str] = ()) -> list[str]:
    """The 35 Speech Commands words, then any of ``words`` outside them."""
    return list(SPEECH_COMMANDS_WORDS) + [w for w in words if w not in SPEECH_COMMANDS_WORDS]


def _available(engines: Sequence[str]) -> tuple[list[str], dict[str, str], Optional[str]]:
    """(usable engines in order, {skipped engine: why}, espeak-ng executable or None)."""
    from kws.data.tts import ENGINES, engine

    used, skipped, exe = [], {}, None
    try:
        exe = espeak_path()
    except ToolMissingError as err:
        espeak_err = str(err)
    for name in engines:
        if name not in ENGINES:
            raise ParamsError(f"data.synthetic.engines: unknown engine {name!r}; one of "
                              f"{', '.join(ENGINES)}")
        if name == "espeak-ng":
            if exe is None:
                skipped[name] = espeak_err
                continue
        else:
            try:
                engine(name).check()
            except ToolMissingError as err:
                skipped[name] = str(err)
                continue
        used.append(name)
    return used, skipped, exe


def speaker_words(speaker_id: str, seed: int, spoken: Sequence[str], keywords: Sequence[str],
                  k: Optional[int]) -> list[str]:
    """The words one speaker says, in ``spoken``'s order: all of ``spoken`` when ``k`` is None,
    else every keyword and ``k`` of the other words drawn from (``seed``, speaker)."""
    others = [w for w in spoken if w not in keywords]
    if k is None or k >= len(others):
        return list(spoken)
    pick = _rng(seed, speaker_id, "words").choice(len(others), size=k, replace=False)
    chosen = set(keywords) | {others[i] for i in pick.tolist()}
    return [w for w in spoken if w in chosen]


def generate(out_dir: str | Path, words: Sequence[str] = (), speakers: int = 200,
             noise_files: int = 6, noise_seconds: float = 60.0, seed: int = 59185,
             workers: int = 2, speed_wpm: tuple[int, int] = (110, 210),
             pitch: tuple[int, int] = (20, 80), validation_percentage: float = 10.0,
             testing_percentage: float = 10.0, progress: bool = True,
             only_words: Optional[Sequence[str]] = None,
             engines: Sequence[str] = ("espeak-ng",), jitter: float = 0.0,
             engine_weights: Optional[dict] = None, other_words: Optional[int] = None,
             everyday_words: bool = False, formant: Optional[tuple[float, float]] = None,
             prosody: Optional[tuple[float, float]] = None,
             intelligibility: Optional[str] = None, retries: int = 0) -> dict:
    """Write the synthetic data set into ``out_dir`` (Speech Commands layout, no split lists).

    ``words``: keywords; those outside the 35 Speech Commands words are spoken too.
    ``only_words`` (tests): speak just these instead. ``engines``: TTS engines to share the
    speakers among (missing ones are skipped with a message), in proportion to
    ``engine_weights`` (default evenly). ``other_words``: each speaker says the keywords and
    this many of the other words (default all); ``everyday_words`` adds ``EVERYDAY_WORDS`` to
    those other words. ``formant``: a per-speaker vocal-tract warp range; ``prosody``: a
    per-speaker range of how much its clips vary (times ``jitter``). ``intelligibility``:
    a recognizer (``kws.data.intelligibility``) that must hear each clip as its word; a clip
    that fails is spoken again up to ``retries`` times, then dropped. Returns a report for the
    metrics; the voices are listed in ``out_dir/synthetic_voices.json``.
    """
    import sys
    from collections import Counter

    from tqdm import tqdm

    from kws.data.tts import engine

    t0 = time.perf_counter()
    used, skipped, exe = _available(engines)
    if not used:
        if len(skipped) == 1:
            raise ToolMissingError(next(iter(skipped.values())))
        raise ToolMissingError(f"none of data.synthetic.engines {list(engines)} is installed: "
                               + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    for name, why in skipped.items():
        print(f"synthetic: skipping TTS engine {name}: {why}", file=sys.stderr, flush=True)
    if intelligibility:
        from kws.data import intelligibility as intel

        intel.check(intelligibility)
    share = share_speakers(speakers, used, engine_weights)
    if min(share.values()) < 3:
        few = ", ".join(f"{e}: {n}" for e, n in share.items() if n < 3)
        raise ParamsError(f"data.synthetic.speakers = {speakers}: too few for {len(used)} engines "
                          f"(each needs a train, a validation and a test speaker; {few}); ask for "
                          f"more speakers" + (" or raise data.synthetic.engine_weights"
                                              if engine_weights else
                                              f" (at least {3 * len(used)})"))
    out = Path(out_dir)
    voices: list = []
    variants: list = []
    for name in used:
        if name == "espeak-ng":
            langs, variants = english_voices(exe), voice_variants(exe)
            voices += draw_voices(share[name], seed, langs, variants, tuple(speed_wpm),
                                  tuple(pitch), validation_percentage, testing_percentage,
                                  formant, prosody)
        else:
            voices += draw_engine_speakers(engine(name), share[name], seed,
                                           validation_percentage, testing_percentage, formant,
                                           prosody)
    babble = [v for v in voices if isinstance(v, Voice)]
    if not babble and exe is not None:  # babble is espeak-ng talkers; draw some if none speak
        babble = draw_voices(8, seed + 1, english_voices(exe), voice_variants(exe),
                             tuple(speed_wpm), tuple(pitch))
    spoken = list(only_words) if only_words is not None else word_list(words)
    if everyday_words and only_words is None:
        spoken += [w for w in EVERYDAY_WORDS if w not in spoken]
    keywords = [w for w in spoken if w in words]
    for w in spoken:
        (out / w).mkdir(parents=True, exist_ok=True)
    (out / BACKGROUND_NOISE_DIR).mkdir(parents=True, exist_ok=True)
    plan = [(n, "pink" if k == "babble" and not babble else k) for n, k in noise_plan(noise_files)]
    tasks = [{"type": "noise", "out": str(out), "exe": exe, "seed": seed, "index": i,
              "name": name, "kind": kind, "seconds": noise_seconds, "voices": babble}
             for i, (name, kind) in enumerate(plan)]
    # The slow engines first, so the pool's workers finish together.
    order = {"hibari": 0, "piper": 1, "flite": 2, "espeak-ng": 3}
    order = {"kokoro": -1, **order}
    tasks += [{"type": "speaker", "out": str(out), "exe": exe, "seed": seed, "voice": v,
               "words": speaker_words(v.speaker_id, seed, spoken, keywords, other_words),
               "jitter": jitter, "filter": intelligibility, "retries": retries,
               "vocabulary": spoken, "base": [w for w in spoken if w not in EVERYDAY_WORDS],
               "keywords": keywords}
              for v in sorted(voices, key=lambda v: order.get(v.engine, 9))]
    n_clips = sum(len(t["words"]) for t in tasks if t["type"] == "speaker")
    faster = 0
    per_engine: dict = {}
    with tqdm(total=n_clips + len(plan), unit="clip", desc="synthesize",
              disable=not progress) as bar:
        if workers <= 1:
            results = map(_task, tasks)
        else:
            import multiprocessing as mp

            pool = mp.get_context("fork").Pool(min(workers, len(tasks)))
            results = pool.imap_unordered(_task, tasks)
        try:
            for r in results:
                bar.update(r["clips"])
                faster += r["faster"]
                if "engine" in r:
                    c = per_engine.setdefault(r["engine"], Counter())
                    c.update({k: r[k] for k in ("clips", "written", "rejected", "dropped",
                                                "resynthesized", "cpu_ms")})
        finally:
            if workers > 1:
                pool.close()
                pool.join()
    (out / VOICES_FILE).write_text(json.dumps(
        [{"speaker_id": v.speaker_id, **v.as_dict(), "settings": v.settings} for v in voices],
        indent=1) + "\n")
    esp = [v for v in voices if isinstance(v, Voice)]
    versions = {n: (f"espeak-ng {espeak_version(exe)}" if n == "espeak-ng" else engine(n).version())
                for n in used}
    return {
        "engine": ", ".join(versions.values()),
        "engines_requested": list(engines),
        "engines_used": used,
        "engines_skipped": skipped,
        "engine_versions": versions,
        "speakers_per_engine": share,
        "clips_per_engine": {e: c["written"] for e, c in sorted(per_engine.items())},
        "cpu_seconds_per_engine": {e: round(c["cpu_ms"] / 1000, 1)
                                   for e, c in sorted(per_engine.items())},
        "jitter": jitter,
        "words_spoken": len(spoken),
        "extra_words": [w for w in spoken if w not in SPEECH_COMMANDS_WORDS
                        and w not in EVERYDAY_WORDS],
        "everyday_words": sum(w in EVERYDAY_WORDS for w in spoken) if everyday_words else 0,
        "other_words_per_speaker": other_words,
        "formant": None if formant is None else list(formant),
        "prosody": None if prosody is None else list(prosody),
        "speakers": len(voices),
        "clips": sum(c["written"] for c in per_engine.values()),
        "intelligibility": _filter_report(intelligibility, retries, per_engine, spoken),
        "languages": sorted({v.language for v in esp}),
        "variants_used": len({v.variant for v in esp}),
        "variants_available": len(variants),
        "speed_wpm": list(speed_wpm),
        "pitch": list(pitch),
        "clips_spoken_faster_to_fit_1s": faster,
        "noise": {name: kind for name, kind in plan},
        "noise_seconds": noise_seconds,
        "workers": workers,
        "seconds": round(time.perf_counter() - t0, 2),
    }

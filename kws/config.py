"""Typed params: one pydantic model per ``params.yaml`` section.

Stages call ``load()`` first, so a bad value stops the run before any work, with one line per
problem naming the key, the value given and what is allowed.

params.yaml is the one source of values: the models here check them and hold no defaults of
their own (``parse`` of a mapping that lacks a key names it). The only exceptions are keys
whose absence means "off" (the strong augmentation of ``features.augment``, ``data.folder``,
the parts of a custom minifloat format). A ``--params`` file may hold only the keys it
changes: ``load`` takes the rest from the repository's params.yaml. Code that needs the
project's settings without a params file (``kws predict`` without ``--params``, benchmarks,
tests) uses ``defaults()`` or ``with_overrides()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kws.errors import ParamsError

# The 35 words of Speech Commands v0.02 (v0.01 has the first 30).
SPEECH_COMMANDS_WORDS = (
    "yes no up down left right on off stop go zero one two three four five six seven eight nine "
    "bed bird cat dog happy house marvin sheila tree wow backward forward follow learn visual"
).split()
SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticParams(Section):
    """The offline TTS data set (``data.source: synthetic``)."""

    speakers: int = Field(ge=3, description="distinct voices (voice x variant x speed x pitch)")
    noise_files: int = Field(ge=1, le=60, description="generated background noise files")
    noise_seconds: float = Field(gt=1.0, le=600.0)
    workers: int = Field(ge=1, le=64)
    speed_wpm: tuple[int, int] = Field(description="espeak-ng speed range, words/min")
    pitch: tuple[int, int] = Field(description="espeak-ng pitch range (0..99)")
    # Several engines (issue 9, kws/data/tts.py)
    engines: list[Literal["espeak-ng", "flite", "piper", "hibari", "kokoro", "festival"]] = Field(
        description="TTS engines sharing the speakers; a missing one is skipped with a message")
    jitter: float = Field(ge=0, le=0.3, description="per-clip speed/pitch spread around "
                          "the speaker's own, as a fraction")
    # Issue 16: defaults here (off) like the strong-augment keys, so that a params file that
    # leaves them out still means the issue-9 data set (kws.bench tts (b)).
    engine_weights: Optional[dict[str, float]] = Field(
        None, description="speakers per engine in proportion to these weights (an engine not "
        "named: 1); null: evenly")
    other_words: Optional[int] = Field(None, ge=0, description="each speaker says the keywords "
                                       "and this many other words (seeded); null: every word")
    everyday_words: bool = Field(False, description="add kws.data.synthetic.EVERYDAY_WORDS to "
                                 "the other (_unknown_) words")
    formant: Optional[tuple[float, float]] = Field(None, description="per-speaker vocal-tract "
                                                   "(formant) warp factor range; null: off")
    prosody: Optional[tuple[float, float]] = Field(None, description="per-speaker range of the "
                                                   "per-clip jitter, times jitter; null: off")
    intelligibility: Optional[Literal["pocketsphinx"]] = Field(
        None, description="recognizer that must hear each clip as its word; null: off")
    retries: int = Field(0, ge=0, le=5, description="re-syntheses of a clip the recognizer "
                         "rejects before it is dropped")

    @field_validator("engines")
    @classmethod
    def _engines_ok(cls, v: list) -> list:
        if not v or len(set(v)) != len(v):
            raise ValueError("needs at least one engine, none repeated")
        return v

    @field_validator("engine_weights")
    @classmethod
    def _weights_ok(cls, v):
        if v is None:
            return v
        from typing import get_args

        names = get_args(get_args(cls.model_fields["engines"].annotation)[0])
        bad = [k for k in v if k not in names]
        if bad:
            raise ValueError(f"unknown engine(s) {bad}; one of {list(names)}")
        if any(w <= 0 for w in v.values()):
            raise ValueError("weights must be > 0")
        return v

    @field_validator("formant", "prosody")
    @classmethod
    def _factor_range_ok(cls, v, info):
        lo, hi = {"formant": (0.7, 1.4), "prosody": (0.0, 3.0)}[info.field_name]
        if v is not None and not lo <= v[0] <= v[1] <= hi:
            raise ValueError(f"needs [low, high] with {lo} <= low <= high <= {hi} (got {list(v)})")
        return v

    @field_validator("speed_wpm")
    @classmethod
    def _speed_ok(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 80 <= v[0] <= v[1] <= 450:
            raise ValueError(f"needs [low, high] with 80 <= low <= high <= 450 (got {list(v)})")
        return v

    @field_validator("pitch")
    @classmethod
    def _pitch_ok(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1] <= 99:
            raise ValueError(f"needs [low, high] with 0 <= low <= high <= 99 (got {list(v)})")
        return v


class DataParams(Section):
    source: Literal["synthetic", "speech_commands", "folder"]
    folder: Optional[str] = None
    url: str
    sha256: str
    words: list[str]
    silence_percentage: float = Field(ge=0, lt=50)
    unknown_percentage: float = Field(ge=0, lt=50)
    train_unknown_percentage: Optional[float] = Field(default=None, ge=0, lt=90)  # None: as above
    validation_percentage: float = Field(gt=0, lt=50)
    testing_percentage: float = Field(gt=0, lt=50)
    seed: int
    synthetic: SyntheticParams

    @field_validator("words", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, words):
        if isinstance(words, list) and any(isinstance(w, bool) for w in words):
            raise ValueError("a word was read as true/false: quote the words, "
                             'e.g. ["yes", "no", "on", "off"]')
        return words

    @field_validator("words")
    @classmethod
    def _words_ok(cls, words: list[str]) -> list[str]:
        if not words:
            raise ValueError("needs at least one word")
        bad = [w for w in words if not w or not w.replace("_", "").replace("-", "").isalnum()
               or w != w.lower() or w.startswith("_")]
        if bad:
            raise ValueError(f"words must be lowercase letters/digits (got {bad})")
        if len(set(words)) != len(words):
            raise ValueError("words must not repeat")
        return words

    @field_validator("sha256")
    @classmethod
    def _sha256_ok(cls, v: str) -> str:
        v = v.strip().lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("must be 64 hex digits (the archive's sha256)")
        return v

    @model_validator(mode="after")
    def _folder_given(self) -> "DataParams":
        if self.source == "folder" and not self.folder:
            raise ValueError("data.source is 'folder' but data.folder is empty: set data.folder "
                             "to a directory in Speech Commands layout")
        if self.silence_percentage + self.unknown_percentage >= 100:
            raise ValueError("silence_percentage + unknown_percentage must be below 100")
        if self.silence_percentage + (self.train_unknown_percentage or 0) >= 100:
            raise ValueError("silence_percentage + train_unknown_percentage must be below 100")
        return self


class AugmentParams(Section):
    """Training-split augmentation applied when features are computed (val/test stay clean)."""

    copies: int = Field(ge=0, le=20, description="augmented copies of each training clip")
    time_shift_ms: float = Field(ge=0, le=500)
    background_probability: float = Field(ge=0, le=1)
    background_volume: float = Field(ge=0, le=1)
    # Strong augmentation (issue 9, kws/data/augment.py): every part is off unless set.
    speed: tuple[float, float] = Field((1.0, 1.0), description="speed perturbation factor range "
                                       "(resampling: tempo and pitch together)")
    pitch_semitones: float = Field(0.0, ge=0, le=12, description="pitch shift uniform in +-this")
    pitch_probability: float = Field(0.0, ge=0, le=1)
    reverb_probability: float = Field(0.0, ge=0, le=1, description="room reverb from a "
                                      "generated impulse response")
    rt60_s: tuple[float, float] = Field((0.15, 0.8), description="reverb time range, seconds")
    eq_probability: float = Field(0.0, ge=0, le=1, description="band-limiting and microphone-"
                                  "like EQ (high-pass, low-pass, a resonance)")
    snr_db: Optional[tuple[float, float]] = Field(None, description="background noise at an SNR "
                                                  "in this range (dB); null: by volume as above")
    gain_db: tuple[float, float] = Field((0.0, 0.0), description="level change range, dB")
    # Issue 16: absent means off (every copy reuses its clean _unknown_ clip).
    fresh_unknown: bool = Field(False, description="each augmented copy of an _unknown_ "
                                "example is another non-keyword clip (the whole pool is used)")

    @field_validator("speed", "rt60_s", "snr_db", "gain_db")
    @classmethod
    def _range_ok(cls, v, info):
        if v is None:
            return v
        lo, hi = v
        limits = {"speed": (0.5, 2.0), "rt60_s": (0.01, 3.0), "snr_db": (-20.0, 60.0),
                  "gain_db": (-40.0, 20.0)}[info.field_name]
        if not limits[0] <= lo <= hi <= limits[1]:
            raise ValueError(f"needs [low, high] with {limits[0]} <= low <= high <= {limits[1]} "
                             f"(got {list(v)})")
        return v


class FeaturesParams(Section):
    sample_rate: Literal[16000]
    clip_ms: int = Field(gt=0)
    window_ms: int = Field(gt=0)
    stride_ms: int = Field(gt=0)
    n_fft: int = Field(description="FFT size; the window is zero-padded to it")
    n_mels: int = Field(ge=1, le=128)
    fmin: float = Field(ge=0)
    fmax: float = Field(gt=0)
    n_mfcc: int = Field(ge=1)
    log_floor: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    augment: AugmentParams

    @model_validator(mode="after")
    def _consistent(self) -> "FeaturesParams":
        if self.n_fft & (self.n_fft - 1):
            raise ValueError(f"features.n_fft = {self.n_fft}: must be a power of two (the MCU FFT)")
        if self.n_fft < self.window_samples:
            raise ValueError(f"features.n_fft = {self.n_fft}: must be >= the window "
                             f"({self.window_samples} samples)")
        if self.fmax > self.sample_rate / 2 or self.fmin >= self.fmax:
            raise ValueError(f"features.fmin/fmax = {self.fmin}/{self.fmax}: need "
                             f"0 <= fmin < fmax <= {self.sample_rate // 2}")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"features.n_mfcc = {self.n_mfcc}: must be <= n_mels ({self.n_mels})")
        if self.window_samples > self.clip_samples:
            raise ValueError("features.window_ms must not exceed clip_ms")
        return self

    @property
    def clip_samples(self) -> int:
        return self.sample_rate * self.clip_ms // 1000

    @property
    def window_samples(self) -> int:
        return self.sample_rate * self.window_ms // 1000

    @property
    def stride_samples(self) -> int:
        return self.sample_rate * self.stride_ms // 1000

    @property
    def n_frames(self) -> int:
        return 1 + (self.clip_samples - self.window_samples) // self.stride_samples


class ModelParams(Section):
    """The registry model (kws/models.py) and its regularization."""

    arch: Literal["tiny_conv", "ds_cnn"]
    dropout: float = Field(ge=0, lt=1)


class TrainParams(Section):
    """Float training (kws/training.py): Adam, an LR schedule, the best-validation checkpoint."""

    epochs: int = Field(ge=1, le=10000)
    batch_size: int = Field(ge=1)
    eval_batch_size: int = Field(ge=1, description="batch size for validation/test")
    lr: float = Field(gt=0, le=1)
    schedule: Literal["cosine", "step", "constant"]
    step_every: int = Field(ge=1, description="schedule: step, epochs between LR drops")
    step_gamma: float = Field(gt=0, le=1, description="schedule: step, LR factor per drop")
    warmup_epochs: int = Field(ge=0, description="linear LR warm-up before the schedule")
    weight_decay: float = Field(ge=0)
    label_smoothing: float = Field(ge=0, lt=1)
    seed: int
    device: Literal["auto", "cpu", "cuda"]
    num_threads: int = Field(ge=1, le=256)
    real_samples_dir: Optional[str] = Field(description="real Speech Commands clips to report real_sample_accuracy on (relative "
        "paths from the repository root); null or a missing folder: skipped")

    @model_validator(mode="after")
    def _warmup_ok(self) -> "TrainParams":
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"train.warmup_epochs ({self.warmup_epochs}) must be below "
                             f"train.epochs ({self.epochs})")
        return self


class ProfileParams(Section):
    """Size / compute / RAM / latency of the trained model (kws/profiling.py)."""

    board: Literal["nano33ble"]
    latency_runs: int = Field(ge=5)
    warmup_runs: int = Field(ge=0)
    num_threads: int = Field(ge=1, le=256)


class ConvertParams(Section):
    """torch -> ONNX -> onnx2tf full-integer TFLite, and its checks (``stages/convert.py``)."""

    calibration_samples: int = Field(ge=1, le=20000, description="training clips in the representative set")
    seed: int = Field(description="picks the representative clips (recorded in the metrics)")
    opset: int = Field(ge=13, le=17, description="ONNX opset of the export")
    arena_step: int = Field(ge=1, le=4096, description="resolution of the arena bisection")
    arena_max: int = Field(ge=1024, description="largest TFLM arena tried, bytes")


# --- quantization (ptq, qat, minifloat; kws/quant) ------------------------------------------------
Scheme = Literal["symmetric", "asymmetric"]
Granularity = Literal["per_channel", "per_tensor"]


def _unique(values: list, what: str) -> list:
    if not values:
        raise ValueError(f"needs at least one {what}")
    if len(set(map(str, values))) != len(values):
        raise ValueError(f"{what}s must not repeat")
    return values


class CalibrationParams(Section):
    """Activation ranges from a fixed, seeded subset of the training features."""

    method: Literal["minmax", "percentile", "ema"]
    percentile: float = Field(gt=50, le=100, description="for method: percentile")
    ema_decay: float = Field(gt=0, lt=1, description="for method: ema")
    samples: int = Field(ge=1, description="training feature vectors used to calibrate")
    batch_size: int = Field(ge=1)
    seed: int


class FinetuneParams(Section):
    """QAT fine-tuning from the float checkpoint (per sweep point)."""

    epochs: Union[int, dict[int, int]] = Field(description="per point, or per bit width "
                                               "({bits: epochs}, every swept width listed); "
                                               "0: calibrate only (PTQ)")
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0, description="Adam, cosine to 0 over the epochs")
    weight_decay: float = Field(ge=0)
    ema_decay: float = Field(gt=0, lt=1, description="activation ranges while training")
    lsq_max_bits: Optional[int] = Field(ge=2, le=16, description="points of this many bits or "
                                        "fewer learn their scales (LSQ); null: never")
    scale_lr: float = Field(gt=0, description="learning rate of the log-scales (LSQ)")
    seed: int

    @field_validator("epochs")
    @classmethod
    def _epochs_ok(cls, v):
        counts = v.values() if isinstance(v, dict) else [v]
        if any(e < 0 for e in counts) or (isinstance(v, dict) and
                                          any(not 2 <= b <= 16 for b in v)):
            raise ValueError(f"epochs must be >= 0, per bit width 2..16 (got {v})")
        return v

    def epochs_for(self, bits: int, section: str) -> int:
        """The fine-tuning epochs of a point of ``bits`` bits."""
        if isinstance(self.epochs, int):
            return self.epochs
        if bits not in self.epochs:
            raise ParamsError(f"{section}.finetune.epochs has no entry for {bits} bits "
                              f"(has {sorted(self.epochs)}): add `{bits}: <epochs>` or give "
                              "one number for every point")
        return self.epochs[bits]


class IntSweepParams(Section):
    bits: list[int]
    schemes: list[Scheme]
    granularity: list[Granularity]
    io_bits: Optional[int] = Field(ge=2, le=16, description="network input and output "
                                   "(logits) tensors; null: the swept bits")
    bias_bits: int = Field(ge=8, le=32, description="biases: integers at scale s_in * s_w")
    calibration: CalibrationParams
    workers: int = Field(ge=1, le=64, description="points computed in parallel processes, one "
                         "torch thread each (results do not depend on it)")

    @field_validator("bits")
    @classmethod
    def _bits_ok(cls, bits: list[int]) -> list[int]:
        bad = [b for b in bits if not 2 <= b <= 16]
        if bad:
            raise ValueError(f"bits must be in 2..16 (got {bad})")
        return sorted(_unique(bits, "bit width"))

    @field_validator("schemes")
    @classmethod
    def _schemes_ok(cls, v):
        return _unique(v, "scheme")

    @field_validator("granularity")
    @classmethod
    def _gran_ok(cls, v):
        return _unique(v, "granularity")


class PtqParams(IntSweepParams):
    integer_check: bool = Field(description="also run the integer-only emulation on the "
                                "test split and record its agreement with fake quantization")


class QatParams(IntSweepParams):
    schemes: list[Scheme]
    finetune: FinetuneParams
    device: Literal["auto", "cpu", "cuda"]


class MinifloatFormatParams(Section):
    """A custom ExMy format; ``format`` names a preset to start from (E5M2, E4M3, E3M2, E2M3,
    E2M1 as in the OCP specifications, other ExMy with bias 2^(E-1)-1)."""

    format: Optional[str] = None
    name: Optional[str] = None
    exp_bits: Optional[int] = Field(None, ge=1, le=8)
    man_bits: Optional[int] = Field(None, ge=0, le=10)
    bias: Optional[int] = None
    subnormals: Optional[bool] = None
    saturate: Optional[bool] = None
    special: Optional[Literal["ieee", "fn", "none"]] = None

    @model_validator(mode="after")
    def _complete(self) -> "MinifloatFormatParams":
        if self.format is None and (self.exp_bits is None or self.man_bits is None):
            raise ValueError("a custom minifloat needs format (a preset name) or exp_bits and man_bits")
        if self.format is not None:
            _check_format_name(self.format)
        return self


def _check_format_name(name: str) -> str:
    import re

    m = re.fullmatch(r"E(\d+)M(\d+)", name.strip().upper())
    if not m or not (1 <= int(m.group(1)) <= 8 and 0 <= int(m.group(2)) <= 10):
        raise ValueError(f"minifloat format {name!r}: write ExMy with 1 <= x <= 8, 0 <= y <= 10 "
                         "(e.g. E4M3)")
    return name.strip().upper()


class MinifloatParams(Section):
    formats: list[Union[str, MinifloatFormatParams]]
    methods: list[Literal["ptq", "qat"]]
    scaling: Literal["none", "per_tensor", "per_channel"] = Field(description="a float scale maps each tensor's (or weight channel's) "
        "largest magnitude to the format's max; none: the format's own range")
    io_format: Optional[str] = Field(description="network input and output tensors; "
                                     "null: the swept format")
    calibration: CalibrationParams
    finetune: FinetuneParams
    device: Literal["auto", "cpu", "cuda"]
    workers: int = Field(ge=1, le=64, description="points computed in parallel processes, one "
                         "torch thread each (results do not depend on it)")

    @field_validator("formats")
    @classmethod
    def _formats_ok(cls, formats):
        out = [_check_format_name(f) if isinstance(f, str) else f for f in formats]
        return _unique(out, "format")

    @field_validator("io_format")
    @classmethod
    def _io_ok(cls, f):
        return None if f is None else _check_format_name(f)

    @field_validator("methods")
    @classmethod
    def _methods_ok(cls, v):
        return _unique(v, "method")


# --- firmware (stages/firmware.py; kws/firmware) -----------------------------------------------
class FirmwareParams(Section):
    """C engine from the int8 .tflite, its builds, and the emulated Cortex-M4 run."""

    emulate_clips: int = Field(ge=1, le=500, description="test clips run end to end in the Cortex-M4 emulator")
    clock_hz: int = Field(ge=1_000_000, le=1_000_000_000, description="MCU clock for the latency (nRF52840: 64 MHz)")


# --- streaming (stages/stream.py; firmware/runtime/kws_stream.c, kws/stream) ---------------------
def _range(v: tuple, what: str, lo: float, hi: float) -> tuple:
    a, b = v
    if not lo <= a <= b <= hi:
        raise ValueError(f"{what} needs [low, high] with {lo} <= low <= high <= {hi} (got {list(v)})")
    return v


class StreamParams(Section):
    """Always-on detection: the streaming recognizer the firmware builds (kws_stream.c) and
    the stream stage's long test streams, scoring and threshold calibration."""

    # the recognizer (firmware/runtime/kws_stream.c + kws_postprocess.c; stream_settings.h)
    period_ms: int = Field(ge=1, le=5000, description="the network runs every this; a multiple of features.stride_ms")
    average_window_ms: int = Field(ge=1, le=5000, description="RecognizeCommands: posteriors averaged over this")
    detection_threshold: float = Field(gt=0.0, lt=1.0, description="averaged probability that reports a word, "
                                       "in the firmware stage's builds (the stream stage's sketch gets the calibrated one)")
    suppression_ms: int = Field(ge=0, le=60000, description="no repeat of a word within")
    minimum_count: int = Field(ge=1, le=64, description="results needed in the window")
    # calibration and scoring
    target_fa_per_hour: Optional[float] = Field(gt=0, description="the stream stage picks the lowest "
                                                "threshold meeting this on the synthetic stream; null: keep detection_threshold")
    threshold_grid: tuple[float, float, float] = Field(description="[low, high, step] of the DET curve's thresholds")
    hit_window_ms: int = Field(ge=0, le=5000, description="a detection counts for a keyword from its onset "
                               "to this long after its end")
    # the synthetic stream (test split)
    minutes: float = Field(gt=0, le=1440, description="length of the synthetic stream")
    seed: int = Field(description="stream draws, with data.seed")
    keyword_share: float = Field(gt=0, le=1, description="share of the spoken words that are keywords "
                                 "(the rest: other words of the test split, negatives)")
    gap_s: tuple[float, float] = Field(description="pause from one word's end to the next word, seconds")
    noise_segment_s: tuple[float, float] = Field(description="background noise changes file and level this often")
    snr_db: tuple[float, float] = Field(description="noise level of a segment against the speech level, dB")
    silence_share: float = Field(ge=0, le=1, description="share of noise segments that are near silence "
                                 "(noise 60 dB below the speech level)")
    speech_dbfs: float = Field(ge=-60, le=-3, description="active-speech RMS level of a word at gain 0, dBFS")
    gain_db: tuple[float, float] = Field(description="word level around speech_dbfs, dB")
    reverb_probability: float = Field(ge=0, le=1, description="words through a generated room impulse response")
    rt60_s: tuple[float, float] = Field(description="reverb time range, seconds")
    real: bool = Field(description="also a stream of the real clips of train.real_samples_dir, when present")
    # checks and cost
    emulate_seconds: float = Field(ge=0, le=600, description="host vs emulated Cortex-M4 decisions on this "
                                   "much of the synthetic stream (0: skipped)")
    timed_steps: int = Field(ge=1, le=20, description="streaming steps timed on the Cortex-M4 model")
    workers: int = Field(ge=1, le=64, description="host processes running the network over the stream "
                         "(the results do not depend on it)")

    @field_validator("gap_s", "noise_segment_s", "snr_db", "gain_db", "rt60_s")
    @classmethod
    def _ranges_ok(cls, v, info):
        lo, hi = {"gap_s": (0.0, 60.0), "noise_segment_s": (0.5, 600.0), "snr_db": (-20.0, 80.0),
                  "gain_db": (-40.0, 20.0), "rt60_s": (0.01, 3.0)}[info.field_name]
        return _range(v, f"stream.{info.field_name}", lo, hi)

    @field_validator("threshold_grid")
    @classmethod
    def _grid_ok(cls, v):
        lo, hi, step = v
        if not (0 < lo <= hi < 1 and step > 0 and (hi - lo) / step <= 2000):
            raise ValueError(f"stream.threshold_grid needs [low, high, step] with 0 < low <= high < 1, "
                             f"step > 0 and at most 2000 steps (got {list(v)})")
        return v

    def thresholds(self) -> list[float]:
        """The DET curve's thresholds (float32 values, as the C recognizer compares them)."""
        import numpy as np

        lo, hi, step = self.threshold_grid
        n = int(round((hi - lo) / step)) + 1
        return sorted({float(np.float32(round(lo + k * step, 6))) for k in range(n)})


# --- pruning (prune; kws/prune) --------------------------------------------------------------------
def _fractions(values: list[float], what: str, one: str) -> list[float]:
    bad = [v for v in values if not 0 < v < 1]
    if bad:
        raise ValueError(f"{what} must be in (0, 1) (got {bad})")
    return sorted(_unique(values, one))


class PruneFinetuneParams(Section):
    """Fine-tuning of every pruned model (kws.training.train_model, Adam, cosine to 0)."""

    epochs: int = Field(ge=0, description="0: no fine-tuning (the fine-tuned curve = the pruned one)")
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0, le=1)
    weight_decay: float = Field(ge=0)
    seed: int


class UnstructuredPruneParams(Section):
    sparsities: list[float] = Field(description="share of conv/dense weights set to zero")

    @field_validator("sparsities")
    @classmethod
    def _ok(cls, v):
        return _fractions(v, "sparsities", "sparsity")


class StructuredPruneParams(Section):
    ratios: list[float] = Field(description="share of output channels removed from every "
                                "prunable conv")
    norms: list[Literal["l1", "l2", "linf"]]
    convert: bool = Field(description="int8 TFLite of every fine-tuned point (int8 accuracy)")
    mcu: bool = Field(description="flash, RAM and emulated Cortex-M4 cycles of every "
                      "converted point (kws.firmware); needs convert: true")

    @field_validator("ratios")
    @classmethod
    def _ok(cls, v):
        return _fractions(v, "ratios", "ratio")

    @field_validator("norms")
    @classmethod
    def _norms_ok(cls, v):
        return _unique(v, "norm")

    @model_validator(mode="after")
    def _mcu_needs_convert(self) -> "StructuredPruneParams":
        if self.mcu and not self.convert:
            raise ValueError("prune.structured.mcu: true needs prune.structured.convert: true "
                             "(the firmware runs the int8 .tflite)")
        return self


class PruneParams(Section):
    """Unstructured and structured pruning sweeps of models/model.pt (kws/prune)."""

    unstructured: UnstructuredPruneParams
    structured: StructuredPruneParams
    finetune: PruneFinetuneParams
    latency_runs: int = Field(ge=5, description="batch-1 CPU runs per structured shape")
    warmup_runs: int = Field(ge=0)
    latency_threads: int = Field(ge=1, le=256, description="torch threads for the CPU latency")
    device: Literal["auto", "cpu", "cuda"]
    workers: int = Field(ge=1, le=64, description="points computed in parallel processes, one "
                         "torch thread each (results do not depend on it)")


class Params(Section):
    # Later stages add their sections here; unknown sections are refused so typos surface.
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: DataParams
    features: FeaturesParams
    model: ModelParams
    train: TrainParams
    profile: ProfileParams
    ptq: PtqParams
    qat: QatParams
    minifloat: MinifloatParams
    convert: ConvertParams
    firmware: FirmwareParams
    stream: StreamParams
    prune: PruneParams

    @model_validator(mode="after")
    def _stream_fits(self) -> "Params":
        st, stride = self.stream, self.features.stride_ms
        if st.period_ms % stride:
            raise ValueError(f"stream.period_ms = {st.period_ms} must be a multiple of "
                             f"features.stride_ms = {stride} (a frame is the unit of new audio)")
        held = st.average_window_ms // st.period_ms + 1
        if held > 64:
            raise ValueError(f"stream.average_window_ms = {st.average_window_ms} holds {held} "
                             f"results at stream.period_ms = {st.period_ms}: the firmware keeps 64; "
                             "use a shorter window or a longer period")
        if st.minimum_count > held:
            raise ValueError(f"stream.minimum_count = {st.minimum_count} is more than the "
                             f"{held} results a {st.average_window_ms} ms window holds at "
                             f"stream.period_ms = {st.period_ms}: nothing would be detected")
        return self


def _format(err: ValidationError, raw: dict, source: str = "params.yaml") -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}' (check the spelling; see README)")
        elif e["type"] == "missing":
            lines.append(f"{source}: '{key}' is missing")
        elif e["type"] == "value_error" and isinstance(e.get("input"), dict):
            where = f"{key}: " if key and not msg.startswith(key) else ""
            lines.append(f"{source}: {where}{msg}")
        elif "input" in e and e["loc"]:
            lines.append(f"{source}: {key} = {e['input']!r}: {msg}")
        else:
            lines.append(f"{source}: {key + ': ' if key else ''}{msg}")
    return "\n".join(lines)


def parse(raw: dict, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise ``ParamsError`` with one line per problem, each
    starting with ``source`` (the file the mapping came from, so ``--params`` files are named)."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(_format(err, raw, source)) from None


def _yaml12() -> YAML:
    """A YAML 1.2 loader, as DVC's own writer: `dvc exp run --set-param` rewrites params.yaml
    with ruamel.yaml and drops the quotes around yes/no/on/off, which YAML 1.2 reads as strings
    (PyYAML's YAML 1.1 would read them as booleans)."""
    return YAML(typ="safe", pure=True)


ROOT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def raw_params(path: str | Path = ROOT_PARAMS) -> dict:
    """A params file as its plain mapping (not validated); one-line errors."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run stages from the repository root")
    try:
        raw = _yaml12().load(path.read_text())
    except YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of sections")
    return raw or {}


def load(path: str | Path = "params.yaml") -> Params:
    """The params of ``path``, validated. Another file than the repository's params.yaml (a
    ``--params`` file) may hold only the keys it changes: the rest are params.yaml's."""
    path = Path(path)
    raw = raw_params(path)
    if ROOT_PARAMS.is_file() and path.resolve() != ROOT_PARAMS:
        raw = _merge(raw_params(ROOT_PARAMS), raw)
    return parse(raw, str(path))


def defaults() -> Params:
    """The repository's params.yaml, validated: the project's settings."""
    return load(ROOT_PARAMS)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def with_overrides(overrides: dict, base: str | Path = ROOT_PARAMS) -> Params:
    """``base`` (the repository's params.yaml) with ``overrides`` merged in, key by key."""
    return parse(_merge(raw_params(base), overrides or {}), source=Path(base).name)

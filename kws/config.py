"""Typed params: one pydantic model per ``params.yaml`` section.

Stages call ``load()`` first, so a bad value stops the run before any work, with one line per
problem naming the key, the value given and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import yaml
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

    speakers: int = Field(200, ge=3, description="distinct voices (voice x variant x speed x pitch)")
    noise_files: int = Field(6, ge=1, le=60, description="generated background noise files")
    noise_seconds: float = Field(60.0, gt=1.0, le=600.0)
    workers: int = Field(2, ge=1, le=64)


class DataParams(Section):
    source: Literal["synthetic", "speech_commands", "folder"] = "synthetic"
    folder: Optional[str] = None
    url: str = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
    sha256: str = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
    words: list[str] = Field(default_factory=lambda: "yes no up down left right on off stop go".split())
    silence_percentage: float = Field(10.0, ge=0, lt=50)
    unknown_percentage: float = Field(10.0, ge=0, lt=50)
    validation_percentage: float = Field(10.0, gt=0, lt=50)
    testing_percentage: float = Field(10.0, gt=0, lt=50)
    seed: int = 59185
    synthetic: SyntheticParams = SyntheticParams()

    @field_validator("words", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, words):
        if isinstance(words, list) and any(isinstance(w, bool) for w in words):
            raise ValueError("YAML read a bare yes/no/on/off as true/false: quote the words, "
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

    @model_validator(mode="after")
    def _folder_given(self) -> "DataParams":
        if self.source == "folder" and not self.folder:
            raise ValueError("data.source is 'folder' but data.folder is empty: set data.folder "
                             "to a directory in Speech Commands layout")
        if self.silence_percentage + self.unknown_percentage >= 100:
            raise ValueError("silence_percentage + unknown_percentage must be below 100")
        return self


class AugmentParams(Section):
    """Training-split augmentation applied when features are computed (val/test stay clean)."""

    copies: int = Field(2, ge=0, le=20, description="augmented copies of each training clip")
    time_shift_ms: float = Field(100.0, ge=0, le=500)
    background_probability: float = Field(0.8, ge=0, le=1)
    background_volume: float = Field(0.1, ge=0, le=1)


class FeaturesParams(Section):
    sample_rate: Literal[16000] = 16000
    clip_ms: int = Field(1000, gt=0)
    window_ms: int = Field(40, gt=0)
    stride_ms: int = Field(20, gt=0)
    n_fft: int = Field(1024, description="FFT size; the window is zero-padded to it")
    n_mels: int = Field(40, ge=1, le=128)
    fmin: float = Field(20.0, ge=0)
    fmax: float = Field(4000.0, gt=0)
    n_mfcc: int = Field(10, ge=1)
    log_floor: float = Field(1e-6, gt=0)
    batch_size: int = Field(512, ge=1)
    augment: AugmentParams = AugmentParams()

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
    arch: Literal["tiny_conv", "ds_cnn"] = "ds_cnn"
    dropout: float = Field(0.2, ge=0, lt=1)


class TrainParams(Section):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(100, ge=1)
    lr: float = Field(3e-3, gt=0)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    weight_decay: float = Field(0.0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int = Field(2, ge=1)


class ProfileParams(Section):
    board: Literal["nano33ble"] = "nano33ble"
    latency_runs: int = Field(200, ge=5)
    warmup_runs: int = Field(20, ge=0)
    num_threads: int = Field(1, ge=1)


class Params(Section):
    # Later stages add their sections here; unknown sections are refused so typos surface.
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: DataParams = DataParams()
    features: FeaturesParams = FeaturesParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    profile: ProfileParams = ProfileParams()


def _format(err: ValidationError, raw: dict) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"params.yaml: unknown key '{key}' (check the spelling; see README)")
        elif e["type"] == "missing":
            lines.append(f"params.yaml: '{key}' is missing")
        elif e["type"] == "value_error" and isinstance(e.get("input"), dict):
            where = f"{key}: " if key and not msg.startswith(key) else ""
            lines.append(f"params.yaml: {where}{msg}")
        elif "input" in e and e["loc"]:
            lines.append(f"params.yaml: {key} = {e['input']!r}: {msg}")
        else:
            lines.append(f"params.yaml: {key + ': ' if key else ''}{msg}")
    return "\n".join(lines)


def parse(raw: dict) -> Params:
    """Validate a params mapping; raise ``ParamsError`` with one line per problem."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(_format(err, raw)) from None


def load(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run stages from the repository root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of sections")
    return parse(raw)

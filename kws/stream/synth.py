"""Long labelled test streams: spoken words at random times over a changing background.

A stream is planned first (every random draw, in a fixed order, from generators seeded by
``data.seed``, ``stream.seed`` and the stream's id), then rendered block by block:

- **words**: one after another, each ``uniform(gap_s)`` seconds after the previous word's end.
  The synthetic stream draws a keyword with probability ``keyword_share`` (from the test split's
  clips of ``data.words``, each used once before any is reused) and otherwise another word of
  the test split (a negative: ``_unknown_``); the real-clip stream plays every clip of its folder
  once, in a shuffled order. Each word's active-speech RMS (``kws.data.augment.active_rms``) is
  set to ``speech_dbfs + uniform(gain_db)``; with ``reverb_probability`` (synthetic stream
  only: the real clips were recorded in rooms) it goes through a generated room impulse
  response (``room_ir``, RT60 uniform in ``rt60_s``) first.
- **background**: segments of ``uniform(noise_segment_s)`` seconds, each a random stretch of a
  random ``_background_noise_`` file at ``uniform(snr_db)`` below the speech level (or 60 dB
  below with probability ``silence_share``: near silence), joined by 50 ms crossfades.
- **ground truth**: every word's onset and offset (the first and last 10 ms frame within 30 dB
  of its loudest, before reverb), label, level and SNR (the word's level over the background
  segment it starts in).

Same bytes on any machine: float64 mixing, then ``kws.frontend.to_pcm16`` (round to nearest,
saturate), as the training augmentation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from kws.data.augment import active_rms, active_span, clip_rng, reverb, room_ir

STREAM_ID = 7          # seed tuples of streams: (data.seed, STREAM_ID, stream.seed, kind, ...)
SYNTHETIC, REAL = 0, 1
FRAME_MS = 10
ACTIVE_DB = 30.0       # a word's active part: frames within this of its loudest
SILENCE_SNR_DB = 60.0
FADE_MS = 50
BLOCK_SECONDS = 10


@dataclass(frozen=True)
class Clip:
    path: str          # the source file (relative to its folder)
    word: str
    label: int         # index into the labels (1: _unknown_)


@dataclass
class Word:
    """One word placed in a stream (the ground truth)."""

    index: int
    path: str
    word: str
    label: int
    start: int         # sample where the clip starts
    samples: int       # the clip's length
    onset_ms: float    # active speech, stream time
    offset_ms: float
    gain_db: float
    snr_db: float      # the word's active-speech level over the background where it starts
    rt60_s: Optional[float] = None  # None: no reverb


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    noise: int         # index of the noise recording
    offset: int        # where in it the segment starts
    snr_db: float


@dataclass
class Plan:
    kind: int
    sample_rate: int
    n_samples: int
    words: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    reused_clips: int = 0   # synthetic: keyword or other clips played a second time or more

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate

    def truth(self) -> list[dict]:
        return [asdict(w) for w in self.words]


class _Cycle:
    """Clips in a shuffled order, reshuffled when used up (counting the reuses)."""

    def __init__(self, clips: Sequence[Clip], rng: np.random.Generator):
        self.clips, self.rng, self.order, self.reused, self.rounds = list(clips), rng, [], 0, 0

    def next(self) -> Clip:
        if not self.order:
            self.order = [int(i) for i in self.rng.permutation(len(self.clips))]
            self.rounds += 1
        if self.rounds > 1:
            self.reused += 1
        return self.clips[self.order.pop()]


def plan(kind: int, clips: Sequence[Clip], keyword_labels: set, n_noises: int, sp, data_seed: int,
         load: Callable[[str], np.ndarray], seconds: Optional[float] = None,
         sample_rate: int = 16000) -> Plan:
    """Where every word and noise segment goes. ``clips``: the stream's words (keywords: labels
    in ``keyword_labels``); ``seconds``: the stream's length, words drawn with
    ``sp.keyword_share`` (None: every clip once, shuffled, as long as that takes); ``sp``: the
    ``stream:`` params; ``load``: a clip's samples (float, full scale 1.0) by path."""
    rng = clip_rng(data_seed, STREAM_ID, sp.seed, kind)
    keys = [c for c in clips if c.label in keyword_labels]
    others = [c for c in clips if c.label not in keyword_labels]
    if seconds is not None and (not keys or (sp.keyword_share < 1 and not others)):
        raise ValueError("a synthetic stream needs keyword clips and (keyword_share < 1) others")
    reverb_on = kind == SYNTHETIC and sp.reverb_probability > 0
    if seconds is None:
        order = [clips[int(i)] for i in rng.permutation(len(clips))]
        limit = None
    else:
        cyc_k = _Cycle(keys, clip_rng(data_seed, STREAM_ID, sp.seed, kind, 1))
        cyc_o = _Cycle(others, clip_rng(data_seed, STREAM_ID, sp.seed, kind, 2)) if others else None
        order = None
        limit = int(round(seconds * sample_rate))
    words: list[Word] = []
    cursor = int(rng.uniform(*sp.gap_s) * sample_rate)   # the first word's onset
    spans: dict[str, tuple[int, int, int]] = {}
    frame = sample_rate * FRAME_MS // 1000   # a word's active span: whole 10 ms frames
    k = 0
    while True:
        if order is not None:
            if k >= len(order):
                break
            clip = order[k]
        else:
            use_key = rng.uniform() < sp.keyword_share or cyc_o is None
            clip = (cyc_k if use_key else cyc_o).next()
        gain = float(rng.uniform(*sp.gain_db))
        use_reverb = bool(rng.uniform() < sp.reverb_probability) and reverb_on
        rt60 = float(rng.uniform(*sp.rt60_s))
        gap = float(rng.uniform(*sp.gap_s))
        if clip.path not in spans:
            x = load(clip.path)
            spans[clip.path] = (*active_span(x, frame, -ACTIVE_DB), len(x))
        a, b, n = spans[clip.path]
        start = cursor - a
        if limit is not None and start + n > limit:
            break
        words.append(Word(k, clip.path, clip.word, clip.label, start, n,
                          cursor * 1000.0 / sample_rate, (start + b) * 1000.0 / sample_rate,
                          gain, 0.0, rt60 if use_reverb else None))
        cursor = start + b + int(gap * sample_rate)
        k += 1
    n_samples = limit if limit is not None else (
        max((w.start + w.samples for w in words), default=0) + int(sp.gap_s[0] * sample_rate))
    # background segments over the whole stream
    segs, t = [], 0
    seg_rng = clip_rng(data_seed, STREAM_ID, sp.seed, kind, 3)
    while t < n_samples:
        dur = int(seg_rng.uniform(*sp.noise_segment_s) * sample_rate)
        noise = int(seg_rng.integers(n_noises)) if n_noises else -1
        offset = int(seg_rng.integers(1 << 30))
        silent = seg_rng.uniform() < sp.silence_share
        snr = SILENCE_SNR_DB if silent else float(seg_rng.uniform(*sp.snr_db))
        segs.append(Segment(t, min(n_samples, t + max(dur, 1)), noise, offset, snr))
        t += max(dur, 1)
    starts = np.array([s.start for s in segs])
    for w in words:
        seg = segs[int(np.searchsorted(starts, int(w.onset_ms * sample_rate / 1000), "right")) - 1]
        w.snr_db = w.gain_db + seg.snr_db
    p = Plan(kind, sample_rate, int(n_samples), words, segs)
    if order is None:
        p.reused_clips = cyc_k.reused + (cyc_o.reused if cyc_o else 0)
    return p


def _fade(n: int) -> np.ndarray:
    """A raised-cosine ramp 0 -> 1 over n samples (a fade-out is 1 minus it: they sum to 1)."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def render(p: Plan, load: Callable[[str], np.ndarray], noises: Sequence[np.ndarray], sp,
           data_seed: int) -> np.ndarray:
    """The stream's int16 samples (``plan`` says what goes where)."""
    from kws.frontend import to_pcm16

    rate = p.sample_rate
    ref = 10 ** (sp.speech_dbfs / 20)
    noises = [np.asarray(z, np.float64) for z in noises]
    noise_rms = [float(np.sqrt(np.mean(z ** 2))) or 1.0 for z in noises]
    fade = rate * FADE_MS // 1000
    ramp = _fade(2 * fade)
    out = np.zeros(p.n_samples, np.int16)
    words = sorted(p.words, key=lambda w: w.start)
    cache: dict[int, np.ndarray] = {}

    def wave(w: Word) -> np.ndarray:
        if w.index not in cache:
            x = np.asarray(load(w.path), np.float64)
            if w.rt60_s is not None:
                ir_rng = clip_rng(data_seed, STREAM_ID, sp.seed, p.kind, 4, w.index)
                x = reverb(x, room_ir(ir_rng, w.rt60_s, rate))
            a = active_rms(x)
            cache[w.index] = x * (ref * 10 ** (w.gain_db / 20) / a) if a > 0 else x
        return cache[w.index]

    block = BLOCK_SECONDS * rate
    first_word = 0
    for b0 in range(0, p.n_samples, block):
        b1 = min(p.n_samples, b0 + block)
        buf = np.zeros(b1 - b0, np.float64)
        for s in p.segments:
            lo, hi = max(b0, s.start - fade), min(b1, s.end + fade)
            if lo >= hi or s.noise < 0:
                continue
            z = noises[s.noise]
            t = np.arange(lo, hi)
            g = np.ones(hi - lo)
            if s.start > 0:   # fade in around the segment's start
                m = t < s.start + fade
                g[m] = ramp[t[m] - (s.start - fade)]
            if s.end < p.n_samples:  # fade out around its end
                m = t >= s.end - fade
                g[m] *= 1.0 - ramp[t[m] - (s.end - fade)]
            level = ref / 10 ** (s.snr_db / 20) / noise_rms[s.noise]
            buf[lo - b0:hi - b0] += level * g * z[(s.offset + (t - s.start)) % len(z)]
        while first_word < len(words) and words[first_word].start + words[first_word].samples <= b0:
            cache.pop(words[first_word].index, None)
            first_word += 1
        for w in words[first_word:]:
            if w.start >= b1:
                break
            x = wave(w)
            lo, hi = max(b0, w.start), min(b1, w.start + len(x))
            if lo < hi:
                buf[lo - b0:hi - b0] += x[lo - w.start:hi - w.start]
        out[b0:b1] = to_pcm16(buf)
    return out


__all__ = ["Clip", "Word", "Segment", "Plan", "plan", "render", "SYNTHETIC", "REAL"]

"""The five views of a clip in one figure: waveform, magnitude spectrum, spectrogram, log-mel
spectrogram, MFCC (matplotlib, Agg backend: no display needed).

The spectrogram, log-mel and MFCC panels are computed with ``kws.features`` and the project's
spec (window, stride, n_fft, mel bands), so they show exactly what the model is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from kws.features import Spec, as_spec, log_mel, mel_to_hz, hz_to_mel, mfcc, power_spectrogram

_DB_FLOOR = 1e-10


def _db(p: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(p, _DB_FLOOR))


def draw_views(audio: np.ndarray, spec: Spec | None = None, title: str = ""):
    """A matplotlib Figure with the five views of ``audio`` (float32 mono at the spec's rate;
    any length, padded with zeros to one window when shorter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = as_spec(spec)
    sr = s.sample_rate
    x = np.asarray(audio, np.float32)
    if len(x) < s.window_samples:
        x = np.pad(x, (0, s.window_samples - len(x)))
    n = len(x)
    t = np.arange(n) / sr
    frame_t = (np.arange(s.n_frames if n == s.clip_samples else
                         1 + (n - s.window_samples) // s.stride_samples)
               * s.stride_samples + s.window_samples / 2) / sr
    hop_s = s.stride_samples / sr

    fig, axes = plt.subplots(5, 1, figsize=(9, 14), constrained_layout=True)
    if title:
        fig.suptitle(title, fontsize=12)

    ax = axes[0]
    ax.plot(t, x, lw=0.6, color="tab:blue")
    ax.set(title="1. Waveform", xlabel="time (s)", ylabel="amplitude (full scale = 1)",
           xlim=(0, n / sr), ylim=(-1.05, 1.05))
    ax.grid(alpha=0.3)

    ax = axes[1]
    mag = np.abs(np.fft.rfft(x.astype(np.float64)))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    ax.plot(f, 20.0 * np.log10(np.maximum(mag, 1e-6)), lw=0.5, color="tab:purple")
    for edge in (s.fmin, s.fmax):
        ax.axvline(edge, color="grey", ls="--", lw=0.8)
    ax.set(title=f"2. Magnitude spectrum of the whole clip (FFT of {n} samples; dashed: mel "
                 f"range {s.fmin:g}-{s.fmax:g} Hz)",
           xlabel="frequency (Hz)", ylabel="magnitude (dB re 1)", xlim=(0, sr / 2))
    ax.grid(alpha=0.3)

    def image(ax, z, extent, label, **kw):
        im = ax.imshow(z.T, origin="lower", aspect="auto", extent=extent, cmap="magma", **kw)
        fig.colorbar(im, ax=ax, label=label, pad=0.01)

    t_extent = (frame_t[0] - hop_s / 2, frame_t[-1] + hop_s / 2)
    ax = axes[2]
    p = power_spectrogram(x, s)[0].numpy()
    db = _db(p)
    image(ax, db, (*t_extent, 0, sr / 2), "power (dB re 1)", vmin=db.max() - 100, vmax=db.max())
    ax.set(title=f"3. Spectrogram (STFT: Hann {s.window_ms} ms, stride {s.stride_ms} ms, "
                 f"n_fft {s.n_fft}, |X|^2 in dB)", xlabel="time (s)", ylabel="frequency (Hz)")

    ax = axes[3]
    lm = log_mel(x, s)[0].numpy()
    image(ax, lm, (*t_extent, -0.5, s.n_mels - 0.5), "ln(mel energy + floor)")
    edges = mel_to_hz(np.linspace(hz_to_mel(s.fmin), hz_to_mel(s.fmax), s.n_mels + 2))[1:-1]
    ticks = np.linspace(0, s.n_mels - 1, 5).round().astype(int)
    ax.set_yticks(ticks, [f"{i}\n{edges[i]:.0f} Hz" for i in ticks], fontsize=7)
    ax.set(title=f"4. Log-mel spectrogram ({s.n_mels} HTK mel bands, {s.fmin:g}-{s.fmax:g} Hz)",
           xlabel="time (s)", ylabel="mel band (centre)")

    ax = axes[4]
    c = mfcc(x, s)[0].numpy()
    vmax = float(np.abs(c[:, 1:]).max()) if c.shape[1] > 1 else float(np.abs(c).max())
    image(ax, c, (*t_extent, -0.5, s.n_mfcc - 0.5), "coefficient value",
          vmin=-vmax, vmax=vmax)
    ax.images[0].set_cmap("coolwarm")
    ax.set(title=f"5. MFCC ({c.shape[0]} frames x {s.n_mfcc} DCT-II coefficients; the model's "
                 "input; colour scale set by coefficients 1+)",
           xlabel="time (s)", ylabel="coefficient index")
    return fig


def save_views(audio: np.ndarray, out: str | Path, spec: Spec | None = None, title: str = "",
               dpi: int = 80) -> Path:
    """Draw the five views and write them as a PNG (atomically)."""
    import matplotlib.pyplot as plt

    from kws.stage import atomic_path

    out = Path(out)
    fig = draw_views(audio, spec, title)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
            tmp.chmod(0o644)  # mkstemp makes it private
    finally:
        plt.close(fig)
    return out


def load_for_views(path: str | Path, spec: Spec | None = None) -> tuple[np.ndarray, list[str]]:
    """A wav's samples at the spec's rate, mono; and notes on what was converted.

    Another rate is resampled and more channels are averaged (each with a note); anything
    unreadable raises ``AudioError`` naming the file.
    """
    import soundfile as sf

    from kws.audio import read_wav

    s = as_spec(spec)
    notes = []
    x = read_wav(path, s.sample_rate, resample_ok=True, mix_down=True)  # validates first
    info = sf.info(str(path))
    if info.channels != 1:
        notes.append(f"{info.channels} channels mixed down to mono")
    if info.samplerate != s.sample_rate:
        notes.append(f"resampled from {info.samplerate} Hz to {s.sample_rate} Hz")
    return x, notes


def views_of_wav(path: str | Path, out: str | Path, spec: Spec | None = None,
                 title: Optional[str] = None) -> list[str]:
    """Write the five views of a wav to ``out``; return notes (resampling, mixing down)."""
    s = as_spec(spec)
    x, notes = load_for_views(path, s)
    head = title if title is not None else Path(path).name
    secs = len(x) / s.sample_rate
    full = f"{head}  ({secs:.2f} s at {s.sample_rate} Hz" + (f"; {'; '.join(notes)}" if notes
                                                            else "") + ")"
    save_views(x, out, s, full)
    return notes

"""Reading, checking and writing wav files (soundfile), with errors that name the file.

Speech Commands clips are 16-bit mono 16 kHz wavs of at most 1 s. ``read_wav`` refuses
anything else with one line that says what is wrong, unless asked to convert
(``resample=True`` resamples and ``mix_down=True`` averages channels).
"""

from __future__ import annotations

import struct
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.errors import AudioError


def _check_riff_complete(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose data chunk is shorter than its header says."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not RIFF: let soundfile decide (it may be another format it reads)
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                if pos + 8 + clen > size:
                    raise AudioError(f"{path}: truncated wav (header says {clen} data bytes, file "
                                     f"holds {size - pos - 8}); re-download or regenerate it")
                return
            pos += 8 + clen + (clen & 1)
    raise AudioError(f"{path}: wav has no data chunk (truncated or corrupt)")


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (scipy), exact for integer rate ratios such as 22050 -> 16000."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g).astype(np.float32)


def read_wav(path: str | Path, sample_rate: int = 16000, resample_ok: bool = False,
             mix_down: bool = False) -> np.ndarray:
    """Return the samples of a mono wav as float32 in [-1, 1].

    Raises ``AudioError`` naming the file for: missing, unreadable or not audio, truncated,
    empty, more than one channel (unless ``mix_down``), another sample rate (unless
    ``resample_ok``).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    _check_riff_complete(path)
    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from None
    if x.shape[0] == 0:
        raise AudioError(f"{path}: empty wav (0 samples)")
    if x.shape[1] != 1:
        if not mix_down:
            raise AudioError(f"{path}: {x.shape[1]} channels, expected mono; convert with "
                             f"`sox in.wav -c 1 out.wav`")
        x = x.mean(axis=1, keepdims=True)
    x = x[:, 0]
    if rate != sample_rate:
        if not resample_ok:
            raise AudioError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz; convert "
                             f"with `sox in.wav -r {sample_rate} out.wav`")
        x = resample(x, rate, sample_rate)
    return x


def write_wav(path: str | Path, x: np.ndarray, sample_rate: int = 16000) -> None:
    """Write float samples as 16-bit PCM mono (clipped to [-1, 1])."""
    sf.write(str(path), np.clip(x, -1.0, 1.0), sample_rate, subtype="PCM_16")


def pad_or_trim(x: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Place ``x`` at ``offset`` in ``n`` zeros (cutting what falls outside); float32, or
    float64 for float64 input."""
    out = np.zeros(n, dtype=np.result_type(np.asarray(x).dtype, np.float32))
    src0 = max(0, -offset)
    dst0 = max(0, offset)
    length = min(len(x) - src0, n - dst0)
    if length > 0:
        out[dst0:dst0 + length] = x[src0:src0 + length]
    return out

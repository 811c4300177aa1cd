"""Drive the host build (firmware/host/kws_host.c) from Python: batches in on stdin, out on
stdout. The host build is what checks the C engine against LiteRT and the Python MFCC on whole
splits (the emulator is ~1 s per clip; the host build ~1 ms)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from kws.errors import KwsError


def _run(binary: str | Path, mode: str, data: bytes) -> bytes:
    res = subprocess.run([str(binary), mode], input=data, capture_output=True)
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip().splitlines()
        raise KwsError(f"{Path(binary).name} {mode} failed (exit {res.returncode}): "
                       f"{err[0] if err else 'no message'}")
    return res.stdout


def network(binary, q_inputs: np.ndarray, out_size: int, in_dtype=np.int8,
            out_dtype=np.int8) -> np.ndarray:
    """Outputs ``[n, out_size]`` of the C network on inputs ``[n, ...]`` (int8 logits on
    int8 inputs; other dtypes for a model with float ends)."""
    x = np.ascontiguousarray(np.asarray(q_inputs).astype(in_dtype)).reshape(len(q_inputs), -1)
    out = _run(binary, "net", x.tobytes())
    return np.frombuffer(out, out_dtype).reshape(len(x), out_size)


def trace(binary, q_input: np.ndarray) -> bytes:
    """Every op's output, in order, for one input (a build with trace=True)."""
    return _run(binary, "trace", np.ascontiguousarray(q_input, np.int8).tobytes())


def features(binary, audio_int16: np.ndarray, n_features: int) -> np.ndarray:
    """The C MFCC, quantized to the model input, ``[n, n_features]`` int8."""
    a = np.ascontiguousarray(audio_int16, "<i2").reshape(len(audio_int16), -1)
    return np.frombuffer(_run(binary, "features", a.tobytes()), np.int8).reshape(len(a), n_features)


def mfcc(binary, audio_int16: np.ndarray, n_frames: int, n_mfcc: int) -> np.ndarray:
    """The C MFCC in float32 ``[n, frames, mfcc]`` (before quantization)."""
    a = np.ascontiguousarray(audio_int16, "<i2").reshape(len(audio_int16), -1)
    out = np.frombuffer(_run(binary, "mfcc", a.tobytes()), np.float32)
    return out.reshape(len(a), n_frames, n_mfcc)

"""Drive the host build (firmware/host/kws_host.c) from Python: batches in on stdin, out on
stdout. The host build is what checks the C engine against LiteRT and the Python MFCC on whole
splits (the emulator is ~1 s per clip; the host build ~1 ms)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from kws.errors import KwsError


def _run(binary: str | Path, mode: str, data: bytes) -> bytes:
    return _run_args(binary, [mode], data)


def _run_args(binary, args: list[str], data: bytes) -> bytes:
    res = subprocess.run([str(binary), *args], input=data, capture_output=True)
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip().splitlines()
        raise KwsError(f"{Path(binary).name} {args[0]} failed (exit {res.returncode}): "
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


# --- streaming (firmware/runtime/kws_stream.c) ---------------------------------------------------
def stream_record(n_out: int) -> np.dtype:
    """One inference of ``kws_host stream``: time, the network's int8 scores, the recognizer's
    top label, its averaged score, whether it is a new detection, and a hash of the network's
    input (kws_stream_input_hash: compares the features frame for frame)."""
    return np.dtype([("time_ms", "<i4"), ("scores", "i1", (n_out,)), ("label", "<i4"),
                     ("score", "<f4"), ("is_new", "<i4"), ("input_hash", "<u4")])


def _threshold_arg(t: float) -> str:
    """A threshold as the float32 the recognizer compares (repr of the float32 value)."""
    return repr(float(np.float32(t)))


def stream(binary, audio_int16: np.ndarray, n_out: int,
           threshold: float | None = None) -> np.ndarray:
    """The streaming recognizer on one stream of int16 audio (a fresh state): one record per
    inference (``stream_record``). ``threshold``: the recognizer's (None: stream_settings.h)."""
    a = np.ascontiguousarray(audio_int16, "<i2").reshape(-1)
    args = ["stream"] if threshold is None else ["stream", _threshold_arg(threshold)]
    return np.frombuffer(_run_args(binary, args, a.tobytes()), stream_record(n_out)).copy()


def stream_inputs(binary, audio_int16: np.ndarray, n_in: int) -> np.ndarray:
    """The network's input at each inference of the stream, ``[inferences, n_in]`` int8."""
    a = np.ascontiguousarray(audio_int16, "<i2").reshape(-1)
    return np.frombuffer(_run(binary, "stream-inputs", a.tobytes()), np.int8).reshape(-1, n_in)


def stream_scores(binary, audio_int16: np.ndarray, n_out: int, spec, period_ms: int,
                  workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The network's scores at every inference of a stream, ``(time_ms [n], scores [n, n_out])``,
    computed by ``workers`` host processes on overlapping pieces of the audio. A piece starts
    where an inference's input starts and runs a fresh stream: the network's input there is
    the same ring of frames (only the last ``n_frames`` frames count), so the scores equal one
    process's; the recognizer's decisions, which carry state, come from ``replay`` over all of
    them."""
    from concurrent.futures import ThreadPoolExecutor

    a = np.ascontiguousarray(audio_int16, "<i2").reshape(-1)
    stride, window, n_frames = spec.stride_samples, spec.window_samples, spec.n_frames
    step = period_ms * spec.sample_rate // 1000           # samples between inferences
    first_end = (n_frames - 1) * stride + window           # samples the first inference needs
    n_inf = 0 if len(a) < first_end else (len(a) - first_end) // step + 1
    if n_inf == 0:
        return np.zeros(0, np.int32), np.zeros((0, n_out), np.int8)
    bounds = np.linspace(0, n_inf, max(1, min(workers, n_inf)) + 1).round().astype(int)
    pieces = [(k0, k1) for k0, k1 in zip(bounds[:-1], bounds[1:]) if k1 > k0]

    def run(piece):
        k0, k1 = piece
        lo, hi = k0 * step, (k1 - 1) * step + first_end
        rec = stream(binary, a[lo:hi], n_out)
        if len(rec) != k1 - k0:
            raise KwsError(f"{Path(binary).name} stream: {len(rec)} inferences on a piece that "
                           f"holds {k1 - k0}")
        return rec["time_ms"] + lo * 1000 // spec.sample_rate, rec["scores"]

    with ThreadPoolExecutor(len(pieces)) as ex:  # each thread waits on its own process
        parts = list(ex.map(run, pieces))
    return (np.concatenate([p[0] for p in parts]).astype(np.int32),
            np.concatenate([p[1] for p in parts]))


def replay(binary, time_ms: np.ndarray, scores: np.ndarray, thresholds) -> list[np.ndarray]:
    """The C recognizer (RecognizeCommands) over stored network outputs, once per threshold
    from a fresh state: for each threshold, its detections as a structured array (time_ms,
    label, score). The same C as on the board, so a DET point is what the device would do."""
    t = np.ascontiguousarray(time_ms, "<i4").reshape(-1, 1)
    s = np.ascontiguousarray(scores, np.int8).reshape(len(t), -1)
    data = np.concatenate([t.view(np.uint8).reshape(len(t), 4), s.view(np.uint8)], axis=1)
    thr = [_threshold_arg(x) for x in thresholds]
    out = _run_args(binary, ["replay", *thr], data.tobytes())
    det = np.frombuffer(out, np.dtype([("k", "<i4"), ("time_ms", "<i4"), ("label", "<i4"),
                                       ("score", "<f4")]))
    return [det[det["k"] == k][["time_ms", "label", "score"]].copy() for k in range(len(thr))]


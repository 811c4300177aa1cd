"""Benchmark: our MFCC (the C frontend, batched) vs a per-clip loop of ``librosa.feature.mfcc``.

    python -m kws.bench featurize [--raw data/raw] [--limit N] [--threads 2]    (``make bench``)

Both featurize the same clips, already read into memory (every clip of the split index of
``data/raw``; all its wavs when the index cannot be built), in the same run, after a warm-up;
only the feature computation is timed. librosa gets the same settings: sr 16000, n_fft 1024,
win_length 640, hop 320, Hann, center=False, 40 HTK mel bands 20-4000 Hz, 10 coefficients
(and ``norm=None`` filters, as ours). It is the baseline for speed, not a numerical reference:
librosa centres the 640-sample window inside each 1024-sample frame (so it gets 47 frames, not
49) and takes ``power_to_db`` (10 log10, top_db 80) rather than ln(mel + floor); the
numerical check against an independent implementation is in tests/test_features.py.
Prints clips/s for both and the speed-up (the bar is >= 10x), and writes
``reports/bench/featurize.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

BAR = 10.0


def _clips(raw: Path, params, limit: int | None) -> tuple[list[Path], str]:
    from kws.data.dataset import SPLITS, index_from_dir, list_clips
    from kws.errors import KwsError

    try:
        index = index_from_dir(raw, params.data)
        rels = sorted({e.path for s in SPLITS for e in index.splits[s] if not e.is_silence})
        what = "every clip of the split index"
    except KwsError:
        rels = list_clips(raw) if raw.is_dir() else []
        what = "every wav"
    if limit:
        rels = rels[:limit]
    return [raw / r for r in rels], what


def _load(paths: list[Path], n: int) -> np.ndarray:
    from concurrent.futures import ThreadPoolExecutor

    from kws.audio import pad_or_trim, read_wav
    from kws.errors import AudioError

    def one(p):
        try:
            return pad_or_trim(read_wav(p), n)
        except AudioError:
            return None

    with ThreadPoolExecutor(4) as pool:
        xs = [x for x in pool.map(one, paths) if x is not None]
    return np.stack(xs) if xs else np.zeros((0, n), np.float32)


def bench(audio: np.ndarray, spec, threads: int = 2, repeats: int = 3) -> dict:
    import os

    import librosa

    from kws.features import mfcc

    os.environ["KWS_FRONTEND_THREADS"] = str(threads)
    n = len(audio)
    lib_kw = dict(sr=spec.sample_rate, n_fft=spec.n_fft, win_length=spec.window_samples,
                  hop_length=spec.stride_samples, window="hann", center=False,
                  n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax, htk=True,
                  n_mfcc=spec.n_mfcc, norm=None)
    # Ours first: after librosa has run, numpy's BLAS threads keep spinning for a while and
    # take cores from torch (measured: ~30 % slower), which would flatter neither side.
    bs = spec.batch_size
    mfcc(audio[:min(n, bs)], spec)  # warm-up: builds and loads the frontend library
    ours = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, n, bs):
            out = mfcc(audio[i:i + bs], spec)
        ours.append(time.perf_counter() - t0)
    librosa.feature.mfcc(y=audio[0], **lib_kw)  # warm-up: lazy imports, filterbank cache
    t0 = time.perf_counter()
    for x in audio:
        lib = librosa.feature.mfcc(y=x, **lib_kw)
    lib_s = time.perf_counter() - t0
    ours_s = min(ours)
    return {
        "clips": n,
        "ours": {"seconds": round(ours_s, 4), "clips_per_s": round(n / ours_s, 1),
                 "batch_size": bs, "threads": threads, "repeats": repeats,
                 "timing": "best of repeats", "output_shape": list(out.shape[1:])},
        "librosa": {"seconds": round(lib_s, 4), "clips_per_s": round(n / lib_s, 1),
                    "version": librosa.__version__, "loop": "one clip per call, one pass",
                    "output_shape": [int(lib.shape[1]), int(lib.shape[0])]},
        "speedup": round(lib_s / ours_s, 1),
        "bar": BAR,
        "passes_bar": bool(lib_s / ours_s >= BAR),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kws.bench featurize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", default="data/raw", help="data folder (default: %(default)s)")
    ap.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None, help="use at most this many clips")
    ap.add_argument("--threads", type=int, default=2, help="frontend threads (default: %(default)s)")
    ap.add_argument("--out", default="reports/bench/featurize.json",
                    help="JSON result (default: %(default)s)")
    args = ap.parse_args(argv)

    from kws import config
    from kws.errors import KwsError
    from kws.stage import write_json

    try:
        params = config.load(args.params)
        spec = params.features
        paths, what = _clips(Path(args.raw), params, args.limit)
        if not paths:
            raise KwsError(f"{args.raw}: no wavs to benchmark: run the download stage first "
                           "(dvc repro download)")
        t0 = time.perf_counter()
        audio = _load(paths, spec.clip_samples)
        load_s = time.perf_counter() - t0
        res = bench(audio, spec, args.threads)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    res.update({"data": str(args.raw), "selection": what, "load_seconds": round(load_s, 3),
                "machine": {"cpu": platform.processor() or platform.machine(),
                            "python": platform.python_version()}})
    print(f"featurize benchmark: {res['clips']} clips ({what} of {args.raw}), MFCC "
          f"{res['ours']['output_shape']}, audio in memory")
    print(f"  ours (C frontend, batch {spec.batch_size}, {args.threads} threads): "
          f"{res['ours']['clips_per_s']:>10.1f} clips/s  ({res['ours']['seconds']:.3f} s)")
    print(f"  librosa.feature.mfcc, per clip:          "
          f"{res['librosa']['clips_per_s']:>10.1f} clips/s  ({res['librosa']['seconds']:.3f} s)")
    print(f"  speed-up: {res['speedup']:.1f}x (bar {BAR:g}x: "
          f"{'pass' if res['passes_bar'] else 'FAIL'})")
    write_json(args.out, res)
    Path(args.out).chmod(0o644)
    print(f"  written to {args.out}")
    print(json.dumps({k: res[k] for k in ("clips", "speedup", "passes_bar")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the MFCC frontend (firmware/runtime/kws_frontend.c) on the Cortex-M4 timing model,
against the 40,000 cycles-per-frame bar, and host vs emulated bit equality.

    python -m kws.bench frontend [--real 3] [--noise 2]

Builds two Cortex-M4F ELFs with the features tables of params.yaml and a stand-in network:
the firmware's own harness (its ``features`` stage: every frame's MFCC and the int8 input
quantization, the figure the bar is on) and a frontend-only harness that returns every
frame's float MFCC, profiled by function (each stage of kws_frontend.c is a function) for the
cycles of each part. Clips: random noise at a few levels and, when ../shared/data is present,
real Speech Commands clips. Every frame's float MFCC from the emulator must equal the host
library's (kws.frontend, the training features) bit for bit, and the int8 features the
Python quantization of those. Also the accuracy of the features: the host library's MFCC
against a float64 numpy evaluation of the formulas (kws/features.py) on up to --accuracy real
clips, and how many int8 features that changes at an input scale of 0.5 a step. Prints the
figures and writes reports/bench/frontend.json. Cycles are a model of the chip
(kws/firmware/timing.py), not a board measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

BAR = 40_000
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech_commands_v0.01"

# The frontend-only harness: audio in, every frame's float MFCC out (kws_mfcc_frame, the
# firmware's call), one timed stage.
HARNESS = r"""
#include <stdint.h>
#include "kws_features.h"
#include "model_settings.h"

typedef struct {
    int16_t audio[KWS_CLIP_SAMPLES];
    float mfcc[KWS_N_FRAMES * KWS_N_MFCC];
} kws_fe_mailbox_t;

__attribute__((section(".noinit"), used, aligned(8))) volatile kws_fe_mailbox_t kws_mailbox;

__attribute__((noinline, used)) void kws_mark(int stage)
{
    __asm volatile("" : : "r"(stage) : "memory");
}

int main(void)
{
    kws_mark(1);
    for (int t = 0; t < KWS_N_FRAMES; ++t) {
        kws_mfcc_frame((const int16_t *)kws_mailbox.audio + t * KWS_STRIDE_SAMPLES,
                       (float *)kws_mailbox.mfcc + t * KWS_N_MFCC);
    }
    kws_mark(0);
    kws_mark(4);
    return 0;
}
"""

# Parts of a frame: the functions of kws_frontend.c the profile charges cycles to.
PARTS = {"stage1_640": "FFT stage 1 (window; zero padding skipped)",
         "stage1_general": "FFT stage 1 (any window)",
         "stage2": "FFT stage 2", "stage3": "FFT stage 3 (bins out in natural order)",
         "split_mel": "real split + power + mel", "log_dct": "log + DCT",
         "kws_frontend_mfcc": "the frame's glue"}
# The frontend's code and tables in the ELF (kws_frontend.c, features_tables.c).
FLASH_SYMBOLS = (*PARTS, "kws_frontend_log", "hann", "twiddles", "bins", "seg_len", "log_table",
                 "dct", "kws_frontend_tables")


def _clips(n_real: int, n_noise: int, clip: int) -> tuple[list[str], np.ndarray]:
    from kws.audio import pad_or_trim, read_wav
    from kws.frontend import to_pcm16

    rng = np.random.default_rng(0)
    names, audio = [], []
    for level in [0.3, 0.01, 1e-4][:n_noise]:
        names.append(f"noise {level:g}")
        audio.append(np.clip(rng.standard_normal(clip) * level, -1, 1))
    wavs = sorted(REAL.glob("*/*.wav")) if REAL.is_dir() else []
    if wavs and n_real:
        step = max(1, len(wavs) // n_real)
        for w in wavs[::step][:n_real]:
            names.append(str(w.relative_to(REAL)))
            audio.append(pad_or_trim(read_wav(w), clip))
    return names, to_pcm16(np.stack(audio))


def reference_mfcc64(pcm: np.ndarray, spec) -> np.ndarray:
    """The MFCC formulas in float64 numpy (numpy's FFT, not the frontend's arithmetic):
    ``[B, n_frames, n_mfcc]`` of int16 clips ``[B, L]``."""
    from kws.frontend import dct64, hann64, mel_filterbank64

    w, hop = spec.window_samples, spec.stride_samples
    fb = mel_filterbank64(spec.sample_rate, spec.n_fft, spec.n_mels, float(spec.fmin),
                          float(spec.fmax))
    x = np.asarray(pcm, np.float64) / 32768.0
    n = 1 + (x.shape[1] - w) // hop
    frames = np.stack([x[:, t * hop:t * hop + w] for t in range(n)], axis=1) * hann64(w)
    power = np.abs(np.fft.rfft(frames, spec.n_fft, axis=-1)) ** 2
    return np.log(power @ fb + spec.log_floor) @ dct64(spec.n_mels, spec.n_mfcc)


def accuracy(n_clips: int, spec, step: float = 0.5) -> dict | None:
    """The host library's MFCC (the board's bits) against ``reference_mfcc64`` on up to
    ``n_clips`` real clips spread over ../shared/data; None without them."""
    from kws.audio import pad_or_trim, read_wav
    from kws.frontend import mfcc_pcm16, to_pcm16

    wavs = sorted(REAL.glob("*/*.wav")) if REAL.is_dir() else []
    if not wavs or n_clips < 1:
        return None
    wavs = wavs[::max(1, len(wavs) // n_clips)][:n_clips]
    pcm = to_pcm16(np.stack([pad_or_trim(read_wav(w), spec.clip_samples) for w in wavs]))
    ours = mfcc_pcm16(pcm, spec).astype(np.float64)
    ref = reference_mfcc64(pcm, spec)
    err = np.abs(ours - ref).reshape(-1)
    steps = np.abs(np.round(ours / step) - np.round(ref / step)).reshape(-1)
    return {"clips": len(wavs), "values": int(err.size), "median_abs_error": float(np.median(err)),
            "p99_abs_error": float(np.quantile(err, 0.99)), "max_abs_error": float(err.max()),
            "int8_step": step, "int8_values_changed": int(np.count_nonzero(steps)),
            "int8_max_step_change": int(steps.max())}


def _sources(work: Path, spec, scale: float, zero_point: int) -> Path:
    from kws.firmware.codegen import Generated, generate_settings

    src = work / "src"
    src.mkdir(parents=True)
    n_in = spec.n_frames * spec.n_mfcc
    gen = Generated({}, 4, 4, 8, 0, 0, [], scale, zero_point, 0.1, 0,
                    (1, spec.n_frames, spec.n_mfcc, 1), 12)
    for name, text in generate_settings(gen, spec, None).items():
        (src / name).write_text(text)
    # a stand-in network: the harness links, the features stage is what is timed
    (src / "model.h").write_text(
        f"#include <stdint.h>\n#define KWS_MODEL_INPUT_SIZE {n_in}\n"
        "#define KWS_MODEL_OUTPUT_SIZE 12\nint8_t *kws_model_input(void);\n"
        "const int8_t *kws_model_output(void);\nvoid kws_model_invoke(void);\n")
    (src / "model.c").write_text(
        f'#include "model.h"\nstatic int8_t a[{n_in}];\n'
        "int8_t *kws_model_input(void) { return a; }\n"
        "const int8_t *kws_model_output(void) { return a; }\nvoid kws_model_invoke(void) {}\n")
    (work / "kws_fe_harness.c").write_text(HARNESS)
    return src


def run(n_real: int, n_noise: int, work: Path, n_accuracy: int = 300,
        clock_hz: int = 64_000_000) -> dict:
    from kws import config
    from kws.export import interpreters as interp
    from kws.firmware.emulator import Emulator, Harness
    from kws.firmware.toolchain import build_m4
    from kws.frontend import mfcc_pcm16

    spec = config.load("params.yaml").features
    names, audio = _clips(n_real, n_noise, spec.clip_samples)
    host = mfcc_pcm16(audio, spec)
    lo, hi = float(host.min()), float(host.max())
    scale = max(hi - lo, 1e-3) / 255.0  # what a converter would choose for these clips
    q = interp.QParams(scale, int(round(-128 - lo / scale)))
    src = _sources(work, spec, q.scale, q.zero_point)
    frames = spec.n_frames
    res = {"bar_cycles_per_frame": BAR, "frames_per_clip": frames, "clock_hz": clock_hz,
           "input_scale": q.scale, "clips": []}

    product = Harness(build_m4(src, work / "harness.elf"))
    fe = Emulator(build_m4(src, work / "frontend.elf", harness=work / "kws_fe_harness.c"))
    res["frontend_flash_bytes"] = sum(product.symbol(s)[1] for s in FLASH_SYMBOLS
                                      if s in product.image.symbols)
    res["frontend_work_ram_bytes"] = product.symbol("kws_frontend_work")[1]
    n_audio = spec.clip_samples
    o_mfcc = (2 * n_audio + 3) & ~3  # kws_fe_mailbox_t: the MFCC after the audio
    feats_ok, mfcc_ok, frames_tried = True, True, 0
    parts: dict = {}
    for i, name in enumerate(names):
        job = product.run_audio(audio[i])
        q_equal = bool(np.array_equal(job.features, interp.quantize(host[i], q).reshape(-1)))
        mb = bytearray(fe.symbol("kws_mailbox")[1])
        mb[:2 * n_audio] = audio[i].astype("<i2").tobytes()
        r = fe.run(bytes(mb), profile=True)
        got = np.frombuffer(r.mailbox[o_mfcc:o_mfcc + 4 * host[i].size], "<f4")
        f_equal = bool(np.array_equal(got.view(np.uint32), host[i].reshape(-1).view(np.uint32)))
        for fn in PARTS:
            if fn in r.functions:
                parts[fn] = parts.get(fn, 0) + r.functions[fn] / frames
        feats_ok &= q_equal
        mfcc_ok &= f_equal
        frames_tried += frames
        res["clips"].append({"clip": name,
                             "features_cycles_per_frame": job.cycles["features"] / frames,
                             "mfcc_cycles_per_frame": r.cycles["features"] / frames,
                             "float_mfcc_equal": f_equal, "int8_features_equal": q_equal})
    n = len(names)
    feat = float(np.mean([c["features_cycles_per_frame"] for c in res["clips"]]))
    mfcc = float(np.mean([c["mfcc_cycles_per_frame"] for c in res["clips"]]))
    parts = {k: round(v / n) for k, v in parts.items()}
    res.update({
        "features_cycles_per_frame": round(feat), "mfcc_cycles_per_frame": round(mfcc),
        "quantize_and_loop_cycles_per_frame": round(feat - mfcc),
        "parts_cycles_per_frame": parts,
        "rest_cycles_per_frame": round(mfcc - sum(parts.values())),
        "features_ms_per_frame": feat / clock_hz * 1e3,
        "frames_tried": frames_tried,
        "float_mfcc_equal_host": bool(mfcc_ok), "int8_features_equal_host": bool(feats_ok),
        "passes_bar": bool(max(c["features_cycles_per_frame"] for c in res["clips"]) <= BAR
                           and mfcc_ok and feats_ok),
        "accuracy_vs_float64": accuracy(n_accuracy, spec)})
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kws.bench frontend", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=int, default=3,
                    help="real clips from ../shared/data when present (default: %(default)s)")
    ap.add_argument("--noise", type=int, default=2, choices=(0, 1, 2, 3),
                    help="random-noise clips (levels 0.3, 0.01, 1e-4; default: %(default)s)")
    ap.add_argument("--accuracy", type=int, default=300,
                    help="real clips for the error against float64 (default: %(default)s)")
    ap.add_argument("--out", default="reports/bench/frontend.json")
    args = ap.parse_args(argv)
    from kws.errors import KwsError
    from kws.stage import write_json

    if args.real + args.noise < 1:
        ap.error("no clips: give --real or --noise")
    try:
        with tempfile.TemporaryDirectory(prefix="kws-bench-fe-") as tmp:
            res = run(args.real, args.noise, Path(tmp), args.accuracy)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"frontend benchmark: {len(res['clips'])} clip(s) x {res['frames_per_clip']} frames "
          "on the Cortex-M4 timing model (not a board measurement)")
    for c in res["clips"]:
        print(f"  {c['clip']:36s} features {c['features_cycles_per_frame']:9.0f} cycles/frame "
              f"(MFCC {c['mfcc_cycles_per_frame']:.0f})  float MFCC = host: "
              f"{c['float_mfcc_equal']}  int8 = host: {c['int8_features_equal']}")
    print("  per part, cycles/frame:")
    for fn, v in res["parts_cycles_per_frame"].items():
        print(f"    {PARTS[fn]:44s} {v:7d}")
    print(f"    {'taken-branch refills, calls (not by function)':44s} "
          f"{res['rest_cycles_per_frame']:7d}")
    print(f"    {'int8 quantization, frame loop':44s} "
          f"{res['quantize_and_loop_cycles_per_frame']:7d}")
    mhz = res["clock_hz"] / 1e6
    print(f"  features {res['features_cycles_per_frame']} cycles/frame "
          f"({res['features_ms_per_frame']:.3f} ms at {mhz:g} MHz); host = emulated on all "
          f"{res['frames_tried']} frames: float {res['float_mfcc_equal_host']}, int8 "
          f"{res['int8_features_equal_host']}")
    print(f"  flash {res['frontend_flash_bytes']} B (code and tables), work buffer "
          f"{res['frontend_work_ram_bytes']} B RAM")
    acc = res["accuracy_vs_float64"]
    if acc:
        print(f"  MFCC vs float64 on {acc['clips']} real clips: |error| median "
              f"{acc['median_abs_error']:.2g}, p99 {acc['p99_abs_error']:.2g}, max "
              f"{acc['max_abs_error']:.2g}; int8 at {acc['int8_step']:g} a step: "
              f"{acc['int8_values_changed']} of {acc['values']} values off, by at most "
              f"{acc['int8_max_step_change']}")
    print(f"  bar: <= {BAR} cycles/frame and host = device on every frame: "
          f"{'pass' if res['passes_bar'] else 'FAIL'}")
    write_json(args.out, res)
    print(f"  written to {args.out}")
    print(json.dumps({k: res[k] for k in ("features_cycles_per_frame", "passes_bar")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

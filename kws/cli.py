"""``kws``: the command for people (the pipeline's stages are in stages/).

    kws views FILE.wav -o out.png     the five audio views of a wav in one PNG
    kws info                          the params summary: labels, feature shape, spec
    kws predict MODEL WAV...          top classes of wavs (when kws.predict is installed)
    kws firmware MODEL.tflite         any int8 .tflite on the firmware engine: flash, RAM,
                                      cycles per op, bit-exactness with TFLM

Each subcommand is a subparser that sets ``func(args) -> exit status``; add one with an
``add_<name>_parser(subparsers)`` function. Errors a user can act on are one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from kws.errors import KwsError


def _views(args: argparse.Namespace) -> int:
    from kws import config
    from kws.views import views_of_wav

    spec = config.load(args.params).features if Path(args.params).is_file() else None
    out = Path(args.output) if args.output else Path(args.wav).with_suffix(".views.png")
    notes = views_of_wav(args.wav, out, spec)
    for note in notes:
        print(f"note: {args.wav}: {note}", file=sys.stderr)
    print(out)
    return 0


def add_views_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "views", help="plot the five views of a wav (waveform, spectrum, spectrogram, "
        "log-mel, MFCC) to a PNG",
        description="Plot a wav's waveform, magnitude spectrum, spectrogram, log-mel "
        "spectrogram and MFCC in one PNG, with the features spec of params.yaml. A wav at "
        "another sample rate is resampled and a stereo wav mixed down (with a note).")
    p.add_argument("wav", metavar="FILE.wav", help="the wav to plot")
    p.add_argument("-o", "--output", metavar="OUT.png",
                   help="where to write the PNG (default: FILE.views.png next to the wav)")
    p.add_argument("--params", default="params.yaml",
                   help="params file for the features spec (default params.yaml; the built-in "
                   "defaults when it is absent)")
    p.set_defaults(func=_views)
    return p


def _info(args: argparse.Namespace) -> int:
    from kws import config
    from kws.data.labels import label_names

    params = config.load(args.params)
    f, d = params.features, params.data
    labels = label_names(list(d.words))
    aug = f.augment
    print(f"params:    {args.params}")
    train_u = ("" if d.train_unknown_percentage is None
               else f" ({d.train_unknown_percentage:g} % in train)")
    print(f"data:      source {d.source}; silence {d.silence_percentage:g} %, unknown "
          f"{d.unknown_percentage:g} % of each split{train_u}; seed {d.seed}")
    print(f"labels:    {len(labels)}: {' '.join(labels)}")
    print(f"audio:     {f.sample_rate} Hz, {f.clip_ms} ms = {f.clip_samples} samples")
    print(f"features:  MFCC {f.n_frames} x {f.n_mfcc} (frames x coefficients): Hann "
          f"{f.window_ms} ms ({f.window_samples} samples), stride {f.stride_ms} ms "
          f"({f.stride_samples}), n_fft {f.n_fft}, {f.n_mels} HTK mel bands "
          f"{f.fmin:g}-{f.fmax:g} Hz, ln(mel + {f.log_floor:g}), DCT-II ortho")
    print(f"augment:   {aug.copies} copies per training clip; shift +-{aug.time_shift_ms:g} ms, "
          f"noise p={aug.background_probability:g} at volume <= {aug.background_volume:g}")
    print(f"model:     {params.model.arch}; input [1, {f.n_frames}, {f.n_mfcc}], "
          f"{len(labels)} outputs")
    return 0


def add_info_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="print the params summary (labels, feature shape)",
                       description="Print what params.yaml sets up: labels, audio and "
                       "features spec, augmentation, the model's input shape.")
    p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    p.set_defaults(func=_info)
    return p


def _firmware(args: argparse.Namespace) -> int:
    import json

    from kws.firmware.byom import exact, report, run

    out = Path(args.out) if args.out else Path("build") / "byom" / Path(args.model).stem
    res = run(args.model, out, args.inputs, args.random, args.emulate)
    print(report(res))
    print(f"  generated C, host and Cortex-M4 builds in {out}/")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    if not exact(res):
        print("error: the C engine differs from TFLM's reference kernels (see above)",
              file=sys.stderr)
        return 1
    return 0


def add_firmware_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "firmware", help="run any int8 .tflite on the firmware's C engine: flash, RAM, cycles "
        "per op, bit-exactness with TFLM",
        description="Generate the C engine for an int8 .tflite (from any toolchain; int8 or "
        "float32 at the ends), build it for the host (ASan/UBSan) and the Cortex-M4F, run it "
        "in the emulator, and print flash, RAM, cycles per op (a Cortex-M4 timing model, not a "
        "board) and whether its outputs equal TFLM's reference kernels bit for bit on random "
        "inputs and on --inputs. Exit status 1 if they differ, 2 on a model the engine cannot "
        "run (the error says which op or tensor).")
    p.add_argument("model", metavar="MODEL.tflite", help="the int8 TFLite model")
    p.add_argument("--inputs", metavar="INPUTS.npy", help="your inputs: an array [n, ...] of "
                   "the model's input dtype (float arrays are quantized for an int8 input)")
    p.add_argument("--random", type=int, default=100, metavar="N",
                   help="random inputs for the host check (default: %(default)s)")
    p.add_argument("--emulate", type=int, default=2, metavar="N",
                   help="inputs run in the Cortex-M4 emulator, ~1 s each (default: %(default)s)")
    p.add_argument("--out", metavar="DIR", help="where the C and the builds go (default: "
                   "build/byom/MODEL)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.set_defaults(func=_firmware)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kws", description="kws-mcu: keyword spotting from raw audio to a microcontroller. "
        "The pipeline itself runs with `dvc repro` (see README).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_views_parser(sub)
    add_info_parser(sub)
    add_firmware_parser(sub)
    try:  # added by the predict work; the CLI works without it
        from kws.predict import add_predict_parser
    except ImportError:
        pass
    else:
        add_predict_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

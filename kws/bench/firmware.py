"""Benchmark: the firmware's network on the Cortex-M4 timing model, SIMD (DSP extension)
kernels beside the portable C, and the memory bars.

    python -m kws.bench firmware [--model models/model_int8.tflite] [--clips 2]

Prints cycles, cycles per MAC (bar: ds_cnn <= 1.5 with the DSP path), cycles per op and ms at 64 MHz for
both builds, flash and RAM from the ELF, the arena against the TFLM arena and the largest live
set, and whether the emulated outputs equal TFLM's reference kernels; writes
reports/bench/firmware.json. Cycles are a model of the chip (kws/firmware/timing.py), not a
board measurement. Without a trained model it converts a ds_cnn with random weights (the
cycle count hardly depends on the weights) and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

BAR = 1.5


def _random_ds_cnn(work: Path) -> Path:
    import torch

    from kws.export.pipeline import convert_model
    from kws.models import build_model

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    calib = (rng.standard_normal((64, 49, 10)) * 8).astype(np.float32)
    path = work / "ds_cnn_random.tflite"
    convert_model(build_model("ds_cnn", 12).eval(), (49, 10), calib, path, work / "m.onnx")
    return path


def run(model_path: Path, clips: int, work: Path, clock_hz: int = 64_000_000) -> dict:
    from kws.export import interpreters as interp
    from kws.firmware.codegen import write_sources
    from kws.firmware.emulator import Harness
    from kws.firmware.referee import tflm_outputs
    from kws.firmware.report import op_table
    from kws.firmware.toolchain import build_m4, elf_sizes

    model = model_path.read_bytes()
    gen = write_sources(model, work / "src", None, None, strict=False)
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (clips, int(np.prod(gen.input_shape[1:])))).astype(np.int8)
    ref = tflm_outputs(model, x)
    res = {"model": str(model_path), "ops": gen.ops, "macs": gen.macs, "clips": clips,
           "clock_hz": clock_hz}
    for name, portable in (("dsp", False), ("portable", True)):
        elf = build_m4(work / "src", work / f"{name}.elf", portable=portable)
        h = Harness(elf)
        cyc, exact, stack, jobs = [], True, 0, []
        for i in range(clips):
            job = h.run_features(x[i])
            jobs.append(job)
            cyc.append(job.cycles["network"])
            exact &= bool(np.array_equal(job.logits, ref[i]))
            stack = max(stack, job.stack_bytes)
        c = float(np.mean(cyc))
        sizes = elf_sizes(elf)
        res[name] = {"cycles": int(round(c)), "cycles_per_mac": c / gen.macs,
                     "ms": c / clock_hz * 1e3, "bit_exact_with_tflm": exact,
                     "flash_bytes": sizes["flash_bytes"],
                     "ram_bytes": sizes["static_ram_bytes"] + stack,
                     "ops": op_table(gen, jobs)}
    probe = x[:2].reshape(-1, *gen.input_shape[1:])
    res["arena_bytes"], res["scratch_bytes"] = gen.arena_bytes, gen.scratch_bytes
    res["largest_live_bytes"] = gen.largest_live_bytes
    res["tflm_arena_bytes"] = int(interp.min_tflm_arena(model, probe))
    res["bar"] = BAR
    res["passes_bar"] = bool(res["dsp"]["cycles_per_mac"] <= BAR)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kws.bench firmware", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/model_int8.tflite",
                    help="int8 .tflite (default: %(default)s; a random ds_cnn if missing)")
    ap.add_argument("--clips", type=int, default=2, help="emulated inferences (default: 2)")
    ap.add_argument("--out", default="reports/bench/firmware.json")
    args = ap.parse_args(argv)
    from kws.errors import KwsError
    from kws.stage import write_json

    try:
        with tempfile.TemporaryDirectory(prefix="kws-bench-fw-") as tmp:
            tmp = Path(tmp)
            model = Path(args.model)
            note = ""
            if not model.is_file():
                note = f" ({model} not found: a ds_cnn with random weights)"
                model = _random_ds_cnn(tmp)
            res = run(model, max(1, args.clips), tmp)
    except KwsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    mhz = res["clock_hz"] / 1e6
    print(f"firmware benchmark: {args.model}{note}, {res['macs']} MACs, {res['clips']} emulated "
          "inference(s); Cortex-M4 timing model, not a board measurement")
    for name, label in (("dsp", "DSP-extension kernels"), ("portable", "portable C")):
        r = res[name]
        print(f"  {label:22s} {r['cycles']:>10d} cycles  {r['cycles_per_mac']:6.2f} cycles/MAC  "
              f"{r['ms']:8.1f} ms at {mhz:g} MHz  flash {r['flash_bytes']} B  RAM "
              f"{r['ram_bytes']} B  bit-exact with TFLM: {r['bit_exact_with_tflm']}")
    print(f"  {'op':>4s} {'':20s} {'MACs':>9s} {'DSP cycles':>11s} {'cycles/MAC':>10s} "
          f"{'portable':>10s}")
    for d, p in zip(res["dsp"]["ops"], res["portable"]["ops"]):
        cpm = f"{d['cycles_per_mac']:.2f}" if d["cycles_per_mac"] else "-"
        print(f"  {d['op']:>4d} {d['name']:20s} {d['macs']:>9d} {d['cycles']:>11d} {cpm:>10s} "
              f"{p['cycles']:>10d}{'  in place' if d['in_place'] else ''}")
    print(f"  arena {res['arena_bytes']} B (activations + scratch), largest live set "
          f"{res['largest_live_bytes']} B, TFLM arena {res['tflm_arena_bytes']} B")
    print(f"  bar: DSP network <= {BAR:g} cycles/MAC: "
          f"{'pass' if res['passes_bar'] else 'FAIL'} ({res['dsp']['cycles_per_mac']:.2f})")
    write_json(args.out, res)
    print(f"  written to {args.out}")
    print(json.dumps({k: res[k] for k in ("macs", "passes_bar")}
                     | {"dsp_cycles_per_mac": round(res["dsp"]["cycles_per_mac"], 3),
                        "portable_cycles_per_mac": round(res["portable"]["cycles_per_mac"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

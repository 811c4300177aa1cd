"""The firmware stage as a library call: generate, build, check against TFLM's reference
kernels (the referee, kws.firmware.referee), LiteRT's and the Python MFCC, emulate on the
Cortex-M4 model, and collect the figures for reports/firmware/metrics.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.errors import KwsError

BAR_CYCLES_PER_MAC = 1.5  # ds_cnn, DSP kernels (issue 18)
MODEL_NOTE = ("Cycles come from a Cortex-M4 timing model (cycles per instruction class from "
              "Arm's Cortex-M4 TRM, kws/firmware/timing.py) applied to the instructions the "
              "emulator (unicorn) executed: a model of the chip, not a measurement on a board "
              "(flash wait states, bus contention and interrupts are not modelled). The model "
              "is checked against hand-counted loops in tests/test_firmware_timing.py.")


def _stage_figures(job, clock_hz: int, macs: int) -> dict:
    c = job.cycles
    out = {}
    for stage in ("features", "network", "postprocess"):
        out[stage] = {"cycles": int(c[stage]), "ms": c[stage] / clock_hz * 1e3,
                      "instructions": int(job.instructions[stage])}
    out["network"]["cycles_per_mac"] = c["network"] / max(1, macs)
    out["network"]["instruction_classes"] = job.classes["network"]
    return out


def op_table(gen, jobs, jobs_p=()) -> list:
    """Cycles of each op (mean over the emulated runs) for the DSP and portable builds."""
    rows = []
    for k, name in enumerate(gen.ops):
        c = float(np.mean([j.op_cycles.get(k, 0) for j in jobs]))
        row = {"op": k, "name": name, "macs": int(gen.op_macs[k]), "cycles": int(round(c)),
               "cycles_per_mac": c / gen.op_macs[k] if gen.op_macs[k] else None,
               "in_place": k in gen.in_place_ops}
        if jobs_p:
            row["portable_cycles"] = int(round(np.mean([j.op_cycles.get(k, 0) for j in jobs_p])))
        rows.append(row)
    return rows


def _test_audio(raw_dir, data_params, n: int, clip_samples: int) -> tuple[np.ndarray, list[str]]:
    from kws.audio import pad_or_trim, read_wav
    from kws.data.dataset import index_from_dir
    from kws.frontend import to_pcm16

    index = index_from_dir(raw_dir, data_params)
    paths = [e.path for e in index.splits["test"] if not e.is_silence][:n]
    if not paths:
        raise KwsError(f"{raw_dir}: the test split has no audio clips for the MFCC check")
    audio = np.stack([pad_or_trim(read_wav(Path(raw_dir) / p), clip_samples) for p in paths])
    return to_pcm16(audio), paths


def check_firmware(model: bytes, out: Path, spec, labels, fp, features_dir, raw_dir,
                   mfcc_clips: int = 200, data_params=None, stream=None) -> dict:
    """``stream``: the streaming recognizer's settings (``StreamParams``; None: params.yaml's)
    for stream_settings.h."""
    from kws import config
    from kws.export import interpreters as interp
    from kws.data.feature_files import load_split
    from kws.features import mfcc
    from kws.firmware import host
    from kws.firmware.arduino import write_sketch
    from kws.firmware.codegen import write_sources
    from kws.firmware.emulator import Harness
    from kws.firmware.referee import tflm_outputs
    from kws.firmware.toolchain import build_host, build_m4, elf_sizes

    if data_params is None:
        data_params = config.defaults().data
    src = out / "src"
    gen = write_sources(model, src, spec, labels, stream, strict=True)
    kws_host = build_host(src, out / "host" / "kws_host")
    elf = build_m4(src, out / "cortex_m4" / "kws_m4.elf")
    elf_portable = build_m4(src, out / "cortex_m4" / "kws_m4_portable.elf", portable=True)
    write_sketch(src, out / "arduino")
    q_in = interp.QParams(gen.input_scale, gen.input_zero_point)

    # 1. the network, whole test split: host build vs TFLM (the referee) and LiteRT
    test_x = load_split(Path(features_dir) / "test.npz").x[:, 0].numpy()
    xq = interp.quantize(test_x, q_in).reshape(len(test_x), -1)
    ref = tflm_outputs(model, xq)
    lite_all = interp.run_litert_int8(model, xq)
    c_out = host.network(kws_host, xq, gen.output_size)
    host_exact = int(np.all(c_out == ref, axis=1).sum())
    lite_exact = int(np.all(c_out == lite_all, axis=1).sum())

    # 2. the MFCC: C (host) vs kws.features on real test clips, as quantized model input
    audio, paths = _test_audio(raw_dir, data_params, max(mfcc_clips, fp.emulate_clips),
                               spec.clip_samples)
    py_q = interp.quantize(mfcc(audio.astype(np.float32) / 32768.0, spec).numpy(), q_in)
    py_q = py_q.reshape(len(audio), -1)
    c_q = host.features(kws_host, audio, gen.input_shape and int(np.prod(gen.input_shape[1:])))
    diff = np.abs(c_q.astype(np.int16) - py_q.astype(np.int16))

    # 3. the Cortex-M4 build in the emulator, end to end on a few clips (DSP); the portable C
    # baseline on the first one (its cycles do not depend on the clip, and at ~13x the DSP
    # build's cycles it is the slowest thing to emulate)
    dsp, portable = Harness(elf), Harness(elf_portable)
    emu_rows, figures, figures_p, stack, jobs, jobs_p = [], [], [], 0, [], []
    for i in range(fp.emulate_clips):
        job = dsp.run_audio(audio[i])
        lite = interp.run_litert_int8(model, job.features[None])[0]
        tflm = tflm_outputs(model, job.features[None])[0]
        row = {"clip": paths[i],
               "features_equal_host": bool(np.array_equal(job.features, c_q[i])),
               "logits_equal_tflm": bool(np.array_equal(job.logits, tflm)),
               "logits_equal_litert": bool(np.array_equal(job.logits, lite))}
        jobs.append(job)
        figures.append(_stage_figures(job, fp.clock_hz, gen.macs))
        stack = max(stack, job.stack_bytes)
        if i == 0:
            job_p = portable.run_audio(audio[i])
            row["portable_equal_dsp"] = bool(np.array_equal(job_p.logits, job.logits)
                                             and np.array_equal(job_p.features, job.features))
            jobs_p.append(job_p)
            figures_p.append(_stage_figures(job_p, fp.clock_hz, gen.macs))
            stack = max(stack, job_p.stack_bytes)
        emu_rows.append(row)

    def mean(figs, stage, key):
        return float(np.mean([f[stage][key] for f in figs]))

    sizes = elf_sizes(elf)
    tflm_arena = interp.min_tflm_arena(model, xq[:2].reshape(2, *gen.input_shape[1:]))
    stages = {}
    for stage in ("features", "network", "postprocess"):
        stages[stage] = {"cycles": int(round(mean(figures, stage, "cycles"))),
                         "ms": mean(figures, stage, "ms")}
    stages["features"]["cycles_per_frame"] = stages["features"]["cycles"] / spec.n_frames
    net = {"dsp": {"cycles": stages["network"]["cycles"], "ms": stages["network"]["ms"],
                   "cycles_per_mac": stages["network"]["cycles"] / gen.macs,
                   "instruction_classes": figures[0]["network"]["instruction_classes"]},
           "portable": {"cycles": int(round(mean(figures_p, "network", "cycles"))),
                        "ms": mean(figures_p, "network", "ms"),
                        "cycles_per_mac": mean(figures_p, "network", "cycles") / gen.macs},
           "macs": gen.macs, "bar_cycles_per_mac": BAR_CYCLES_PER_MAC}
    net["dsp"]["passes_bar"] = bool(net["dsp"]["cycles_per_mac"] <= BAR_CYCLES_PER_MAC)
    net["ops"] = op_table(gen, jobs, jobs_p)
    total = sum(stages[s]["cycles"] for s in stages)
    return {
        "ops": gen.ops,
        "flash_bytes": sizes["flash_bytes"], "ram_bytes": sizes["static_ram_bytes"] + stack,
        "elf": sizes, "stack_bytes": stack,
        "arena_bytes": gen.arena_bytes, "largest_live_bytes": gen.largest_live_bytes,
        "scratch_bytes": gen.scratch_bytes, "weight_bytes": gen.weight_bytes,
        "activation_ram_bytes": gen.arena_bytes + gen.scratch_bytes,
        "largest_op_scratch_bytes": gen.op_scratch_bytes,
        "in_place_ops": [gen.ops[k] + f" {k}" for k in gen.in_place_ops],
        "arena_note": "activations and every kernel's scratch in one arena (scratch_bytes "
                      "outside it: 0); pointwise and depthwise convolutions run in place",
        "tflm_arena_bytes": int(tflm_arena),
        "arena_le_tflm": bool(gen.arena_bytes + gen.scratch_bytes <= tflm_arena),
        "arena_within_10pct_of_live": bool(gen.arena_bytes <= 1.1 * gen.largest_live_bytes),
        "stages": stages, "network": net,
        "total_cycles": int(total), "total_ms": total / fp.clock_hz * 1e3,
        "clock_hz": fp.clock_hz,
        "tflm": {"clips": int(len(xq)), "host_exact_clips": host_exact,
                 "host_bit_exact": bool(host_exact == len(xq)),
                 "emulated_clips": len(emu_rows),
                 "emulated_bit_exact": bool(all(r["logits_equal_tflm"] for r in emu_rows)),
                 "emulated_equal_host": bool(all(r["features_equal_host"] for r in emu_rows)),
                 "portable_equal_dsp": bool(all(r["portable_equal_dsp"] for r in emu_rows
                                                 if "portable_equal_dsp" in r)),
                 "portable_emulated_clips": len(jobs_p),
                 "kernels": "TFLM reference kernels (tflite-micro Python interpreter): the "
                            "referee"},
        "litert": {"clips": int(len(xq)), "host_exact_clips": lite_exact,
                   "host_bit_exact": bool(lite_exact == len(xq)),
                   "emulated_clips": len(emu_rows),
                   "emulated_bit_exact": bool(all(r["logits_equal_litert"] for r in emu_rows)),
                   "tflm_litert_differing_clips": int(np.any(ref != lite_all, axis=1).sum()),
                   "kernels": "TFLite reference (LiteRT BUILTIN_REF), for comparison: where it "
                              "and TFLM differ (per-channel FULLY_CONNECTED rounding) the "
                              "engine follows TFLM"},
        "mfcc": {"clips": int(len(audio)), "elements": int(diff.size),
                 "identical_fraction": float((diff == 0).mean()), "max_lsb": int(diff.max())},
        "emulated": emu_rows,
        "timing_note": MODEL_NOTE,
    }

"""Flash, RAM and emulated Cortex-M4 cycles of an int8 .tflite, as one library call
(what the prune stage calls for each pruned model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.errors import KwsError

CLOCK_HZ = 64_000_000  # nRF52840 (Arduino Nano 33 BLE)


def measure_tflite(tflite_path, work_dir, features_params=None, n_clips=1,
                   portable: bool = False, seed: int = 0) -> dict:
    """Generate C for ``tflite_path``, cross-build it for the Cortex-M4F, run ``n_clips``
    inferences on random int8 inputs (seeded) in the emulator and return::

        flash_bytes, ram_bytes (static data+bss + stack high-water), arena_bytes,
        scratch_bytes, network_cycles (mean), network_ms (at 64 MHz), macs, cycles_per_mac,
        largest_live_bytes, stack_bytes

    ``portable`` builds the plain-C kernels (no DSP extension) instead.
    Cycles come from the timing model in kws.firmware.timing: a model, not a board measurement.
    """
    from kws.firmware.codegen import write_sources
    from kws.firmware.emulator import Harness
    from kws.firmware.toolchain import build_m4, elf_sizes

    tflite_path, work = Path(tflite_path), Path(work_dir)
    if not tflite_path.is_file():
        raise KwsError(f"{tflite_path} not found")
    if n_clips < 1:
        raise KwsError(f"n_clips must be at least 1, got {n_clips}")
    gen = write_sources(tflite_path.read_bytes(), work / "src", features_params, None,
                        strict=False)
    elf = build_m4(work / "src", work / ("kws_m4_portable.elf" if portable else "kws_m4.elf"),
                   portable=portable)
    sizes = elf_sizes(elf)
    h = Harness(elf)
    rng = np.random.default_rng(seed)
    cycles, stack = [], 0
    for _ in range(n_clips):
        job = h.run_features(rng.integers(-128, 128, h.n_feat).astype(np.int8))
        cycles.append(job.cycles["network"])
        stack = max(stack, job.stack_bytes)
    net = float(np.mean(cycles))
    return {"flash_bytes": sizes["flash_bytes"],
            "ram_bytes": sizes["static_ram_bytes"] + stack,
            "static_ram_bytes": sizes["static_ram_bytes"], "stack_bytes": stack,
            "arena_bytes": gen.arena_bytes, "largest_live_bytes": gen.largest_live_bytes,
            "scratch_bytes": gen.scratch_bytes, "weight_bytes": gen.weight_bytes,
            "network_cycles": int(round(net)), "network_ms": net / CLOCK_HZ * 1e3,
            "macs": gen.macs, "cycles_per_mac": net / max(1, gen.macs),
            "ops": gen.ops, "kernels": "portable C" if portable else "Cortex-M4 DSP"}

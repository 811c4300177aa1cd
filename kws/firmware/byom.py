"""Bring your own model: ``kws firmware MODEL.tflite`` runs any int8 .tflite (int8 inside;
int8 or float32 at the ends) through the firmware engine with nothing from the pipeline:
generate the C, build it for the host (under ASan/UBSan) and the Cortex-M4F, run it in the
emulator, and report flash, RAM, cycles per op and bit-exactness against TFLM's reference
kernels (tflite-micro's Python interpreter) on random inputs and on the user's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.errors import KwsError

CLOCK_HZ = 64_000_000


def load_inputs(path: str | Path, model: bytes, size: int, dtype: np.dtype) -> np.ndarray:
    """Inputs from a .npy: ``[n, ...]`` of the model's input dtype; float arrays for an int8
    input are quantized with the input's scale and zero point (as TFLite does)."""
    from kws.export import interpreters as interp
    from kws.firmware.codegen import generate_model

    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise KwsError(f"{path}: not a readable .npy array ({err})") from None
    x = np.asarray(x)
    if x.size % size:
        raise KwsError(f"{path}: {x.size} values are not a whole number of model inputs of "
                       f"{size}: save an array of shape [n, ...] with {size} values per input")
    x = x.reshape(-1, size)
    if dtype == np.int8 and x.dtype.kind == "f":
        gen = generate_model(model)
        return interp.quantize(x, interp.QParams(gen.input_scale, gen.input_zero_point))
    if dtype == np.int8 and (x.min() < -128 or x.max() > 127):
        raise KwsError(f"{path}: values outside int8 for a model with an int8 input")
    return x.astype(dtype)


def run(model_path: str | Path, out: str | Path, inputs: str | Path | None = None,
        n_random: int = 100, n_emulate: int = 2, seed: int = 0) -> dict:
    """Everything ``kws firmware`` prints, as a dict (see ``report``)."""
    from kws.firmware.codegen import write_sources
    from kws.firmware.emulator import Harness
    from kws.firmware import host
    from kws.firmware.referee import litert_outputs, random_inputs, reference_outputs
    from kws.firmware.report import op_table
    from kws.firmware.toolchain import build_host, build_m4, elf_sizes

    model_path, out = Path(model_path), Path(out)
    if not model_path.is_file():
        raise KwsError(f"{model_path} not found")
    model = model_path.read_bytes()
    gen = write_sources(model, out / "src", None, None, strict=False)
    size = int(np.prod(gen.input_shape[1:]))
    in_dt = np.dtype(np.int8 if gen.input_dtype == "int8" else np.float32)
    out_dt = np.dtype(np.int8 if gen.output_dtype == "int8" else np.float32)
    sets = {"random": random_inputs(model, max(1, n_random), seed=seed)}
    if inputs is not None:
        sets["given"] = load_inputs(inputs, model, size, in_dt)
    binary = build_host(out / "src", out / "host" / "kws_host", sanitize=True)
    elf = build_m4(out / "src", out / "cortex_m4" / "kws_m4.elf")
    res = {"model": str(model_path), "ops": gen.ops, "macs": gen.macs,
           "weight_bytes": gen.weight_bytes, "arena_bytes": gen.arena_bytes,
           "scratch_bytes": gen.scratch_bytes, "input": [gen.input_dtype, list(gen.input_shape)],
           "output": [gen.output_dtype, gen.output_size], "checks": {}}
    for name, x in sets.items():
        ref, who = reference_outputs(model, x)
        res["referee"] = who
        got = host.network(binary, x, gen.output_size, in_dt, out_dt)
        row = {"inputs": len(x), "host_equal_tflm": int(np.all(got == ref, axis=1).sum())}
        try:
            lite = litert_outputs(model, x)
            row["litert_equal_tflm"] = int(np.all(lite == ref, axis=1).sum())
        except Exception as err:  # noqa: BLE001  LiteRT is only a comparison here
            row["litert_error"] = f"{type(err).__name__}: {err}".splitlines()[0]
        res["checks"][name] = row
    h = Harness(elf)
    x = np.concatenate(list(sets.values()))[:max(1, n_emulate)]
    ref, _ = reference_outputs(model, x)
    jobs = [h.run_features(x[i]) for i in range(len(x))]
    res["checks"]["emulated"] = {"inputs": len(x), "m4_equal_tflm": int(sum(
        np.array_equal(j.logits, ref[i]) for i, j in enumerate(jobs)))}
    sizes = elf_sizes(elf)
    stack = max(j.stack_bytes for j in jobs)
    cyc = float(np.mean([j.cycles["network"] for j in jobs]))
    res.update({"flash_bytes": sizes["flash_bytes"], "static_ram_bytes": sizes["static_ram_bytes"],
                "stack_bytes": stack, "ram_bytes": sizes["static_ram_bytes"] + stack,
                "network_cycles": int(round(cyc)), "network_ms": cyc / CLOCK_HZ * 1e3,
                "cycles_per_mac": cyc / max(1, gen.macs)})
    res["op_table"] = op_table(gen, jobs)
    try:
        from kws.export.interpreters import min_tflm_arena

        shape = gen.input_shape
        res["tflm_arena_bytes"] = int(min_tflm_arena(
            model, sets["random"][:2].reshape(-1, *shape[1:])))
    except Exception:  # noqa: BLE001  a figure for comparison only
        res["tflm_arena_bytes"] = None
    return res


def report(res: dict) -> str:
    """The human-readable summary ``kws firmware`` prints."""
    ops = res["ops"]
    who = res.get("referee", "TFLM")
    lines = [f"{res['model']}: {len(ops)} ops, {res['macs']:,} MACs, input "
             f"{res['input'][0]}{res['input'][1]}, output {res['output'][0]}[{res['output'][1]}]",
             f"  flash {res['flash_bytes']:,} B (weights and tables {res['weight_bytes']:,} B); "
             f"RAM {res['ram_bytes']:,} B = static {res['static_ram_bytes']:,} (of which the "
             f"arena, activations and kernel scratch: {res['arena_bytes']:,}) + stack "
             f"{res['stack_bytes']:,}"
             + (f"; TFLM needs a {res['tflm_arena_bytes']:,} B arena"
                if res.get("tflm_arena_bytes") else ""),
             f"  network {res['network_cycles']:,} cycles = {res['cycles_per_mac']:.2f} cycles/MAC, "
             f"{res['network_ms']:.2f} ms at {CLOCK_HZ / 1e6:g} MHz (Cortex-M4 timing model, "
             "not a board measurement)",
             f"  {'op':>3s}  {'name':20s} {'MACs':>10s} {'cycles':>10s} {'cycles/MAC':>10s}"]
    for r in res["op_table"]:
        cpm = f"{r['cycles'] / r['macs']:.2f}" if r["macs"] else "-"
        lines.append(f"  {r['op']:>3d}  {r['name']:20s} {r['macs']:>10,} {r['cycles']:>10,} "
                     f"{cpm:>10s}{'  in place' if r.get('in_place') else ''}")
    for name, c in res["checks"].items():
        if name == "emulated":
            lines.append(f"  bit-exact with {who}, Cortex-M4 build in the emulator: "
                         f"{c['m4_equal_tflm']}/{c['inputs']} inputs")
            continue
        lite = (f"; LiteRT's reference kernels equal TFLM on {c['litert_equal_tflm']}/"
                f"{c['inputs']}" if "litert_equal_tflm" in c else
                f"; LiteRT: {c.get('litert_error')}")
        lines.append(f"  bit-exact with {who}, host build (ASan/UBSan), {name} inputs: "
                     f"{c['host_equal_tflm']}/{c['inputs']}{lite}")
    if any(c.get("litert_equal_tflm", c["inputs"]) < c["inputs"] for c in res["checks"].values()
           if "inputs" in c and "host_equal_tflm" in c):
        lines.append("  where LiteRT and TFLM differ the engine follows TFLM, the runtime a "
                     "microcontroller runs (e.g. per-channel FULLY_CONNECTED: TFLM rounds twice, "
                     "LiteRT once)")
    return "\n".join(lines)


def exact(res: dict) -> bool:
    c = res["checks"]
    return all(v.get("host_equal_tflm", v.get("m4_equal_tflm")) == v["inputs"] for v in c.values())

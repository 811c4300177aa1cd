"""The prune stage as library functions: the unstructured and structured sweeps, each point
cached, and the CPU latency of every structured shape.

* Every point is stored as soon as it is done (``kws.sweep.PointCache``, keyed by a hash
  of the checkpoint, the feature files, the point's parameters and the stage's code), so an
  interrupted sweep resumes and a changed parameter recomputes only the points it touches.
* Fine-tuning: ``kws.training.train_model`` from the pruned weights (masks kept for the
  unstructured points), then BatchNorm statistics re-estimated on the training split
  (``recalibrate_bn``). Of the starting, fine-tuned and recalibrated weights the best on the
  validation split is kept (``kept``), so the fine-tuned curve never falls below the pruned one
  on validation; the test accuracy is reported as measured.
* Structured points: the smaller dense model's params and FLOPs (``kws.profiling``), its
  fine-tuned weights converted to int8 TFLite (``kws.export.pipeline.convert_model``, the
  ``convert:`` settings) with LiteRT's int8 accuracy, and flash / RAM / emulated Cortex-M4 cycles
  (``kws.firmware.measure.measure_tflite``). The non-fine-tuned twin has the same shape, so the
  same size and timing.
* CPU latency is not cached: it is measured in every run for every shape (one model per ratio;
  the norm only picks which channels), interleaved run by run, so all shapes see the same load
  and the comparison within a run is fair. Two figures: the float torch model (``cpu_ms``;
  at ~1 ms per call it is dominated by per-layer overhead) and the int8 TFLite model in LiteRT
  with its default XNNPACK kernels, one thread (``cpu_int8_ms``; what a CPU deployment runs).
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from kws import training
from kws.errors import KwsError
from kws.prune import structured as st
from kws.prune import unstructured as un
from kws.sweep import Inputs, PointCache, check_device, compute_points


@dataclass
class Sweep:
    """What every point needs: inputs, params, the point cache and a scratch folder."""

    inp: Inputs
    p: object                # config.PruneParams
    convert: object          # config.ConvertParams (calibration and opset of the int8 models)
    features: object         # config.FeaturesParams (the firmware's feature settings)
    cache: PointCache
    work: Path               # build/prune/work: .tflite of each structured point
    progress: Optional[bool] = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.inp.test.x.shape[-2:])

    def key(self, kind: str, **point) -> dict:
        f = self.p.finetune
        return {"point": kind, "model": self.inp.fingerprint["model"],
                **{k: v for k, v in self.inp.fingerprint.items() if k.startswith("features_")},
                "code": self.inp.fingerprint["code"],
                "finetune": f.model_dump(), "device": self.device, **point}

    @property
    def device(self) -> str:
        return check_device(self.p.device, "prune")


# --- fine-tuning ------------------------------------------------------------------------------
def _eval(model: nn.Module, split) -> tuple[float, float]:
    ev = training.evaluate(model, split, 1000, "cpu")
    return ev.accuracy, ev.loss


@torch.no_grad()
def recalibrate_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are re-estimated on ``x`` (a plain
    average over all batches; everything else in eval mode, so dropout is off). After heavy
    pruning a few channels keep a tiny variance whose momentum-averaged running estimate is
    far off, and the eval-mode model collapses although training went well (measured here: a
    90%-sparse ds_cnn fine-tuned 3 epochs scored 8% on validation, 56% after this)."""
    new = copy.deepcopy(model).eval()
    bns = [m for m in new.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return new
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: the plain mean over the batches
        bn.train()
    for i in range(0, len(x), batch_size):
        new(x[i:i + batch_size])
    for bn in bns:
        bn.momentum = 0.1
    return new.eval()


def finetune(model: nn.Module, sw: Sweep) -> tuple[nn.Module, dict]:
    """Fine-tune a copy of ``model``, then re-estimate its BatchNorm statistics
    (``recalibrate_bn``); keep whichever of the starting weights, the fine-tuned weights and the
    recalibrated ones is best on validation (accuracy, then loss, as the train stage picks its
    best epoch)."""
    f = sw.p.finetune
    start_acc, start_loss = _eval(model, sw.inp.val)
    info = {"epochs": f.epochs, "start_val_accuracy": start_acc, "kept": "start",
            "best_epoch": 0, "val_accuracy": start_acc, "seconds": 0.0}
    if f.epochs == 0:
        return model, info
    t0 = time.perf_counter()
    ft = copy.deepcopy(model)
    res = training.train_model(ft, sw.inp.train, sw.inp.val, epochs=f.epochs,
                               batch_size=f.batch_size, lr=f.lr, schedule="cosine",
                               weight_decay=f.weight_decay, seed=f.seed, device=sw.device,
                               num_threads=1, progress=False)
    recal = recalibrate_bn(res.model, sw.inp.train.x)
    candidates = {"start": model, "finetuned": res.model, "finetuned_bn_recalibrated": recal}
    scores = {k: _eval(m, sw.inp.val) for k, m in candidates.items()}
    best = max(candidates, key=lambda k: (scores[k][0], -scores[k][1], k == "start"))
    info.update(kept=best, best_epoch=res.best_epoch if best != "start" else 0,
                val_accuracy=scores[best][0],
                val_accuracy_candidates={k: v[0] for k, v in scores.items()},
                seconds=time.perf_counter() - t0,
                history=[{k: h[k] for k in ("epoch", "val_accuracy", "val_loss", "train_loss")}
                         for h in res.history])
    return candidates[best], info


# --- unstructured ---------------------------------------------------------------------------------
def unstructured_point(sw: Sweep, sparsity: float) -> dict:
    t0 = time.perf_counter()
    pruned = sw.inp.model if sparsity == 0 else un.magnitude_prune(sw.inp.model, sparsity)
    stats = un.sparsity_stats(pruned)
    acc, _ = _eval(pruned, sw.inp.test)
    val_acc, _ = _eval(pruned, sw.inp.val)
    row = {"sparsity": sparsity, **stats, "accuracy_pruned": acc, "val_accuracy_pruned": val_acc}
    if sparsity == 0:
        return {**row, "accuracy_finetuned": acc, "val_accuracy_finetuned": val_acc,
                "finetune": None, "seconds": time.perf_counter() - t0}
    ft, info = finetune(pruned, sw)
    ft = un.make_permanent(copy.deepcopy(ft))
    stats_ft = un.sparsity_stats(ft)
    row.update(accuracy_finetuned=_eval(ft, sw.inp.test)[0],
               val_accuracy_finetuned=_eval(ft, sw.inp.val)[0],
               nonzero_params_finetuned=stats_ft["nonzero_params"],
               weight_sparsity_finetuned=stats_ft["weight_sparsity"], finetune=info,
               seconds=time.perf_counter() - t0)
    return row


def unstructured_sweep(sw: Sweep) -> dict:
    t0 = time.perf_counter()
    todo = [0.0] + list(sw.p.unstructured.sparsities)
    tasks = [(sw.key("unstructured", sparsity=s), lambda s=s: unstructured_point(sw, s))
             for s in todo]
    done = compute_points(tasks, sw.cache, sw.p.workers, "unstructured", sw.progress)
    points, cached = [r for r, _ in done], sum(hit for _, hit in done)
    return {"baseline": points[0], "points": points[1:], "points_cached": cached,
            "finetune": sw.p.finetune.model_dump(), "seconds": time.perf_counter() - t0,
            "checks": finetune_check(points[1:], ["sparsity"])}


# --- structured -----------------------------------------------------------------------------------
def _layer_flops(prof: dict) -> dict[str, dict]:
    return {r["name"]: r for r in prof["layers"]}


def _int8(sw: Sweep, model: nn.Module, name: str) -> dict:
    """Convert ``model`` to int8 TFLite under the work folder; its LiteRT test accuracy; and
    the firmware figures when ``prune.structured.mcu``."""
    from kws.export import interpreters as interp
    from kws.export.pipeline import convert_model, pick_calibration

    out = sw.work / name
    out.mkdir(parents=True, exist_ok=True)
    train_x = sw.inp.train.x[:, 0].numpy()
    test_x, test_y = sw.inp.test.x[:, 0].numpy(), sw.inp.test.y.numpy()
    calib, _ = pick_calibration(train_x, sw.convert.calibration_samples, sw.convert.seed)
    t0 = time.perf_counter()
    conv = convert_model(model, sw.shape, calib, out / "model_int8.tflite", out / "model.onnx",
                         opset=sw.convert.opset, check_x=test_x[:16])
    q = interp.run_litert(conv.tflite, test_x)
    res = {"int8_accuracy": float((q.argmax(1) == test_y).mean()),
           "tflite_bytes": len(conv.tflite), "ops": sorted(set(conv.ops)),
           "convert_seconds": time.perf_counter() - t0,
           "tflite": str(out / "model_int8.tflite")}
    if sw.p.structured.mcu:
        res["mcu"] = mcu_figures(out / "model_int8.tflite", out / "firmware", sw.features)
    return res


def mcu_figures(tflite_path: Path, work_dir: Path, features=None) -> dict:
    """Flash, RAM and emulated Cortex-M4 cycles / ms at 64 MHz, from the firmware code."""
    try:
        from kws.firmware.measure import measure_tflite
    except ImportError as err:
        raise KwsError(f"prune.structured.mcu is true but the firmware code is missing ({err}): "
                       "merge the firmware branch or set prune.structured.mcu: false") from None
    t0 = time.perf_counter()
    try:
        m = measure_tflite(tflite_path, work_dir, features_params=features, n_clips=1)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)  # C sources and ELF: scratch
    keep = ("flash_bytes", "ram_bytes", "arena_bytes", "network_cycles", "network_ms", "macs",
            "cycles_per_mac", "static_ram_bytes", "stack_bytes", "weight_bytes", "kernels")
    return {**{k: m[k] for k in keep if k in m}, "seconds": time.perf_counter() - t0}


def structured_point(sw: Sweep, norm: str, ratio: float, base_prof: dict, tag: str = "") -> dict:
    from kws.profiling import profile_model

    t0 = time.perf_counter()
    if ratio == 0:
        small, keep = sw.inp.model, {k: list(range(c)) for k, c in
                                     st.channel_counts(sw.inp.model, sw.shape).items()}
    else:
        small, keep = st.prune_structured(sw.inp.model, sw.shape, ratio, norm)
    prof = profile_model(small, sw.shape)
    before, after = _layer_flops(base_prof), _layer_flops(prof)
    groups = st.channel_groups(sw.inp.model, sw.shape)
    touched = {g.producer for g in groups} | {d for g in groups for d in g.depthwise} \
        | {g.consumer for g in groups}
    layers = [{"name": n, "op": after[n]["op"], "macs_before": before[n]["macs"],
               "macs_after": after[n]["macs"], "flops_before": before[n]["flops"],
               "flops_after": after[n]["flops"],
               "macs_ratio": after[n]["macs"] / max(1, before[n]["macs"])}
              for n in after if n in touched]
    acc, _ = _eval(small, sw.inp.test)
    val_acc, _ = _eval(small, sw.inp.val)
    row = {"norm": norm, "ratio": ratio,
           "channels": {k: len(v) for k, v in keep.items()},
           "params": prof["params"], "params_deployed": prof["params_deployed"],
           "macs": prof["macs"], "flops": prof["flops"],
           "flash_int8_estimate": prof["flash_bytes"]["int8"],
           "peak_ram_int8_estimate": prof["peak_ram_bytes"]["int8"],
           "layers": layers, "accuracy_pruned": acc, "val_accuracy_pruned": val_acc}
    if ratio == 0:
        ft, info = small, None
    else:
        ft, info = finetune(small, sw)
    row.update(accuracy_finetuned=_eval(ft, sw.inp.test)[0],
               val_accuracy_finetuned=_eval(ft, sw.inp.val)[0], finetune=info)
    if sw.p.structured.convert:
        row.update(_int8(sw, ft, f"{norm}_{ratio:g}_{tag}" if ratio else f"baseline_{tag}"))
    row["seconds"] = time.perf_counter() - t0
    return row


def cpu_latency(models: dict[str, nn.Module], input_shape, runs: int, warmup: int,
                threads: int) -> dict[str, dict]:
    """Batch-1 forward latency of several models, interleaved (one run of each in turn), so
    that a load change on the machine hits every model alike. Same conventions as
    ``kws.profiling.measure_latency`` (eval mode, inference_mode, pinned threads, median)."""
    from kws.profiling import summarize_ms

    x = torch.randn(1, 1, *input_shape, generator=torch.Generator().manual_seed(0))
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    times = {k: [] for k in models}
    try:
        with torch.inference_mode():
            for m in models.values():
                m.eval()
            for i in range(warmup + runs):
                for k, m in models.items():
                    t0 = time.perf_counter()
                    m(x)
                    dt = time.perf_counter() - t0
                    if i >= warmup:
                        times[k].append(dt)
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old)
    return {k: {**summarize_ms(v), "num_threads": used, "batch": 1, "warmup_runs": warmup}
            for k, v in times.items()}


def litert_latency(tflite_paths: dict[str, str], runs: int, warmup: int) -> dict[str, dict]:
    """Batch-1 ``invoke()`` latency of int8 .tflite files in LiteRT (default kernels: XNNPACK,
    one thread), interleaved as ``cpu_latency``."""
    from kws.export import interpreters as interp
    from kws.profiling import summarize_ms

    its = {}
    for k, path in tflite_paths.items():
        it, inp, _ = interp._io(Path(path).read_bytes(), reference=False)
        it.set_tensor(inp["index"], np.zeros(inp["shape"], np.int8))
        its[k] = it
    times = {k: [] for k in its}
    for i in range(warmup + runs):
        for k, it in its.items():
            t0 = time.perf_counter()
            it.invoke()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[k].append(dt)
    return {k: {**summarize_ms(v), "num_threads": 1, "batch": 1, "warmup_runs": warmup,
                "runtime": "LiteRT int8, default kernels (XNNPACK)"} for k, v in times.items()}


def structured_sweep(sw: Sweep) -> dict:
    from kws.profiling import profile_model

    t0 = time.perf_counter()
    s = sw.p.structured
    base_prof = profile_model(sw.inp.model, sw.shape)
    todo = [("baseline", 0.0)] + [(n, r) for n in s.norms for r in s.ratios]
    tasks = []
    for norm, ratio in todo:
        key = sw.key("structured", norm=norm, ratio=ratio, convert=s.convert, mcu=s.mcu,
                     convert_params=sw.convert.model_dump() if s.convert else None,
                     features=sw.features.model_dump() if s.mcu else None)
        tasks.append((key, lambda n=norm, r=ratio, k=key: structured_point(
            sw, n, r, base_prof, PointCache.key(k)[:10])))
    # a fine-tune epoch costs roughly the channels kept; the baseline is not fine-tuned
    cost = [1 + (0 if n == "baseline" else sw.p.finetune.epochs * (1 - r)) for n, r in todo]
    done = compute_points(tasks, sw.cache, sw.p.workers, "structured", sw.progress, cost=cost)
    points, cached = [r for r, _ in done], sum(hit for _, hit in done)
    # CPU latency: one model per shape (the ratio fixes the shape), measured fresh.
    shapes = {"0": sw.inp.model}
    for r in s.ratios:
        shapes[f"{r:g}"] = st.prune_structured(sw.inp.model, sw.shape, r, s.norms[0])[0]
    lat = cpu_latency(shapes, sw.shape, sw.p.latency_runs, sw.p.warmup_runs, sw.p.latency_threads)
    tfl = {f"{r['ratio']:g}": r["tflite"] for r in points  # (a deleted work folder: skipped)
           if r.get("tflite") and Path(r["tflite"]).is_file()
           and r["norm"] in ("baseline", s.norms[0])}
    lat8 = litert_latency(tfl, sw.p.latency_runs, sw.p.warmup_runs) if s.convert else {}
    for row in points:
        row["cpu_latency"] = lat[f"{row['ratio']:g}"]
        row["cpu_ms"] = row["cpu_latency"]["median_ms"]
        if f"{row['ratio']:g}" in lat8:
            row["cpu_int8_latency"] = lat8[f"{row['ratio']:g}"]
            row["cpu_int8_ms"] = row["cpu_int8_latency"]["median_ms"]
    base, rest = points[0], points[1:]
    return {"baseline": base, "points": rest, "points_cached": cached,
            "finetune": sw.p.finetune.model_dump(), "seconds": time.perf_counter() - t0,
            "checks": {**finetune_check(rest, ["norm", "ratio"]), **bars(base, rest)},
            "notes": ["MCU figures are the firmware's Cortex-M4 timing model run in an "
                      "instruction-set emulator at 64 MHz, not a board measurement",
                      "size, FLOPs and timing are per shape: the non-fine-tuned model of a point "
                      "has the fine-tuned one's shape, hence its figures",
                      "CPU latency: float torch, batch 1, median, interleaved across shapes in "
                      "this run (not cached)"]}


# --- checks -----------------------------------------------------------------------------------
def finetune_check(points: list[dict], keys: list[str]) -> dict:
    """Is fine-tuned >= pruned at every point (test and validation)?"""
    below = [{k: p[k] for k in keys} | {"test_pruned": p["accuracy_pruned"],
                                        "test_finetuned": p["accuracy_finetuned"]}
             for p in points if p["accuracy_finetuned"] < p["accuracy_pruned"]]
    below_val = [{k: p[k] for k in keys} for p in points
                 if p["val_accuracy_finetuned"] < p["val_accuracy_pruned"]]
    return {"finetuned_at_or_above_pruned_test": not below, "test_below": below,
            "finetuned_at_or_above_pruned_validation": not below_val}


def bars(base: dict, points: list[dict], ratio: float = 0.5) -> dict:
    """The issue's bar at 50%: conv MACs of each pruned layer at most half, lower CPU and MCU
    time than the unpruned model in the same run."""
    at = [p for p in points if p["ratio"] == ratio]
    if not at:
        return {"bar_50": None}
    convs = [l for l in at[0]["layers"] if l["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    before = sum(l["flops_before"] for l in convs)
    after = sum(l["flops_after"] for l in convs)
    out = {"ratio": ratio,
           "conv_macs_ratio_per_layer": {l["name"]: round(l["macs_ratio"], 6) for l in convs},
           "conv_macs_at_most_half_each": all(l["macs_ratio"] <= 0.5 + 1e-12 for l in convs),
           "conv_flops_before": before, "conv_flops_after": after,
           "conv_flops_ratio": after / max(1, before),
           "cpu_ms": at[0]["cpu_ms"], "baseline_cpu_ms": base["cpu_ms"],
           "cpu_lower": at[0]["cpu_ms"] < base["cpu_ms"]}
    if "cpu_int8_ms" in at[0] and "cpu_int8_ms" in base:
        out.update(cpu_int8_ms=at[0]["cpu_int8_ms"], baseline_cpu_int8_ms=base["cpu_int8_ms"],
                   cpu_int8_lower=at[0]["cpu_int8_ms"] < base["cpu_int8_ms"])
    mcu = [p.get("mcu") for p in at if p.get("mcu")]
    if mcu and base.get("mcu"):
        out.update(mcu_ms=mcu[0]["network_ms"], baseline_mcu_ms=base["mcu"]["network_ms"],
                   mcu_lower=all(m["network_ms"] < base["mcu"]["network_ms"] for m in mcu))
    return {"bar_50": out}


# --- tables for dvc plots ----------------------------------------------------------------------
def unstructured_table(rep: dict) -> tuple[list[dict], list[str]]:
    rows = []
    for p in [rep["baseline"], *rep["points"]]:
        rows.append({"sparsity": p["sparsity"], "params": p["nonzero_params"],
                     "unstructured_pruned": p["accuracy_pruned"],
                     "unstructured_finetuned": p["accuracy_finetuned"]})
    return rows, ["sparsity", "params", "unstructured_pruned", "unstructured_finetuned"]


def structured_table(rep: dict, norms: list[str]) -> tuple[list[dict], list[str]]:
    """One row per ratio (0: the unpruned model): shape figures and each norm's accuracies."""
    base = rep["baseline"]
    by_ratio: dict[float, dict] = {}
    for p in [base, *rep["points"]]:
        r = by_ratio.setdefault(p["ratio"], {
            "ratio": p["ratio"], "params": p["params"], "flops": p["flops"],
            "cpu_ms": p["cpu_ms"], "cpu_int8_ms": p.get("cpu_int8_ms"),
            "mcu_ms": (p.get("mcu") or {}).get("network_ms"),
            "flash_bytes": (p.get("mcu") or {}).get("flash_bytes"),
            "ram_bytes": (p.get("mcu") or {}).get("ram_bytes")})
        for n in (norms if p is base else [p["norm"]]):
            r[f"{n}_pruned"] = p["accuracy_pruned"]
            r[f"{n}_finetuned"] = p["accuracy_finetuned"]
            if "int8_accuracy" in p:
                r[f"{n}_finetuned_int8"] = p["int8_accuracy"]
    cols = ["ratio", "params", "flops", "cpu_ms", "cpu_int8_ms", "mcu_ms", "flash_bytes",
            "ram_bytes"]
    cols += [f"{n}_{k}" for n in norms for k in ("pruned", "finetuned", "finetuned_int8")]
    return [by_ratio[r] for r in sorted(by_ratio)], cols

def metrics(un: dict, st: dict) -> dict:
    """The few numbers worth a `dvc metrics diff`."""
    out = {"baseline_accuracy": st["baseline"]["accuracy_pruned"],
           "baseline_params": st["baseline"]["params"],
           "unstructured": {f"{p['sparsity']:g}": {"pruned": p["accuracy_pruned"],
                                                   "finetuned": p["accuracy_finetuned"]}
                            for p in un["points"]},
           "structured": {f"{p['norm']}_{p['ratio']:g}": {"pruned": p["accuracy_pruned"],
                                                          "finetuned": p["accuracy_finetuned"]}
                          for p in st["points"]},
           "finetuned_at_or_above_pruned_test": (
               un["checks"]["finetuned_at_or_above_pruned_test"]
               and st["checks"]["finetuned_at_or_above_pruned_test"])}
    bar = st["checks"].get("bar_50")
    if bar:
        out["bar_50"] = {k: bar.get(k) for k in (
            "conv_macs_at_most_half_each", "conv_flops_ratio", "cpu_lower", "cpu_int8_lower",
            "mcu_lower", "cpu_ms", "baseline_cpu_ms", "cpu_int8_ms", "baseline_cpu_int8_ms",
            "mcu_ms", "baseline_mcu_ms")}
    return out

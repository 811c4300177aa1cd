"""The three quantization sweeps (PTQ, QAT, minifloat) as library functions; the stage scripts
(``stages/ptq.py``, ``stages/qat.py``, ``stages/minifloat.py``) only load params, call these and
write the reports.

Every point is cached (``kws.sweep.PointCache``), so an interrupted sweep resumes at the
first point not yet computed. Accuracies are fractions in [0, 1] on the test split.
"""

from __future__ import annotations

import time
from typing import Optional

import torch

from kws.quant.integer import agreement
from kws.quant.minifloat import parse_format
from kws.quant.qat import accuracy, finetune
from kws.quant.sweep import batches, calibration_subset
from kws.sweep import Inputs, PointCache, check_device, compute_points
from kws.quant.wrap import QuantConfig, float_size_bytes, quantize_model, size_bytes


def _calib_batches(inp: Inputs, c) -> list[torch.Tensor]:
    return batches(calibration_subset(inp.train, c.samples, c.seed), c.batch_size)


def _observer_kw(c) -> dict:
    return dict(observer=c.method, percentile=c.percentile, ema_decay=c.ema_decay, seed=c.seed)


def float_point(inp: Inputs, cache: PointCache) -> dict:
    def compute():
        t0 = time.perf_counter()
        size = float_size_bytes(inp.model)
        return {"accuracy": accuracy(inp.model, inp.test.x, inp.test.y),
                "val_accuracy": accuracy(inp.model, inp.val.x, inp.val.y),
                "size_bytes": size["total"], "params": size["params"],
                "seconds": time.perf_counter() - t0}
    return cache.get_or_compute({"point": "float", **inp.fingerprint}, compute)[0]


def _int_config(p, bits: int, scheme: str, gran: str, ema_decay: Optional[float] = None) -> QuantConfig:
    kw = _observer_kw(p.calibration)
    if ema_decay is not None:
        kw["qat_ema_decay"] = ema_decay
    return QuantConfig.integer(bits, scheme, per_channel=gran == "per_channel",
                               io_bits=p.io_bits, bias_bits=p.bias_bits, **kw)


def _learns_scales(f, bits: int, epochs: int) -> bool:
    return epochs > 0 and f.lsq_max_bits is not None and bits <= f.lsq_max_bits


# --- PTQ -------------------------------------------------------------------------------------------
def ptq_sweep(inp: Inputs, p, cache: PointCache, progress: Optional[bool] = None) -> dict:
    """Calibrate on the fixed training subset, evaluate the test split, for every (bits, scheme,
    granularity). The float activation ranges do not depend on the format, so calibration runs
    once and is shared by all points."""
    t_start = time.perf_counter()
    flt = float_point(inp, cache)
    ranges = {}

    def get_ranges():  # quantizer names do not depend on the format either: one pass is enough
        if "r" not in ranges:
            qm = quantize_model(inp.model, _int_config(p, 8, "symmetric", "per_channel"))
            qm.calibrate(_calib_batches(inp, p.calibration))
            ranges["r"] = qm.ranges()
        return ranges["r"]

    grid = [(b, s, g) for g in p.granularity for s in p.schemes for b in p.bits]
    tasks = []
    for bits, scheme, gran in grid:
        inputs = {"point": "ptq", "bits": bits, "scheme": scheme, "granularity": gran,
                  "io_bits": p.io_bits, "bias_bits": p.bias_bits,
                  "calibration": p.calibration.model_dump(), "integer_check": p.integer_check,
                  **inp.fingerprint}

        def compute(bits=bits, scheme=scheme, gran=gran):  # bound now: runs later
            t0 = time.perf_counter()
            qm = quantize_model(inp.model, _int_config(p, bits, scheme, gran))
            qm.set_ranges(get_ranges())
            size = size_bytes(qm)
            row = {"accuracy": accuracy(qm, inp.test.x, inp.test.y), "size_bytes": size["total"],
                   "weight_bytes": size["weights"]}
            if p.integer_check:
                ag = agreement(qm, inp.test.x, inp.test.y)
                row["integer"] = {k: ag[k] for k in ("accuracy", "output_codes_equal",
                                                     "max_abs_lsb", "argmax_agree")}
            row["seconds"] = time.perf_counter() - t0
            return row

        tasks.append((inputs, compute))
    done = compute_points(tasks, cache, p.workers, "ptq", progress)
    n_cached = sum(hit for _, hit in done)
    rows = [{"bits": b, "scheme": s, "granularity": g, "io_bits": p.io_bits,
             "calibration": p.calibration.method, **result}
            for (b, s, g), (result, _) in zip(grid, done)]
    return {"float": flt, "points": rows, "params": p.model_dump(), "n_test": len(inp.test),
            "points_cached": n_cached, "seconds": time.perf_counter() - t_start, "meta": inp.meta}


# --- QAT -------------------------------------------------------------------------------------------
def qat_sweep(inp: Inputs, p, cache: PointCache, progress: Optional[bool] = None) -> dict:
    """For every (bits, scheme, granularity): quantize the float model, calibrate as PTQ does,
    fine-tune ``p.finetune.epochs`` epochs (that width's, when given per width) with fake
    quantization (best validation epoch kept; epoch 0, the calibrated model, competes),
    evaluate the test split. At ``lsq_max_bits`` bits or fewer the scales are learned (LSQ),
    starting from the calibrated ones or LSQ's ``2 mean|x| / sqrt(Q_p)``, whichever is finer;
    above, activation ranges follow an EMA and weight scales the weights' min/max."""
    t_start = time.perf_counter()
    flt = float_point(inp, cache)
    device = check_device(p.device, "qat")
    grid = [(b, s, g) for g in p.granularity for s in p.schemes for b in p.bits]
    f = p.finetune
    tasks, cost = [], []  # cost: fine-tune epochs, + calibration (the costliest start first)
    for bits, scheme, gran in grid:
        epochs = f.epochs_for(bits, "qat")
        cost.append(epochs + 0.1)
        inputs = {"point": "qat", "bits": bits, "scheme": scheme, "granularity": gran,
                  "io_bits": p.io_bits, "bias_bits": p.bias_bits,
                  "calibration": p.calibration.model_dump(),
                  "finetune": {**f.model_dump(), "epochs": epochs}, **inp.fingerprint}

        def compute(bits=bits, scheme=scheme, gran=gran, epochs=epochs):  # bound now: runs later
            t0 = time.perf_counter()
            qm = quantize_model(inp.model, _int_config(p, bits, scheme, gran, f.ema_decay))
            qm.calibrate(_calib_batches(inp, p.calibration))
            ptq_acc = accuracy(qm, inp.test.x, inp.test.y)
            lsq = _learns_scales(f, bits, epochs)
            if lsq:
                qm.learn_scales(f.scale_lr / f.lr)
            hist = finetune(qm, inp.train, inp.val, epochs=epochs, batch_size=f.batch_size,
                            lr=f.lr, weight_decay=f.weight_decay, seed=f.seed, device=device,
                            num_threads=1, progress=False)
            size = size_bytes(qm)
            return {"accuracy": accuracy(qm, inp.test.x, inp.test.y), "ptq_accuracy": ptq_acc,
                    "learned_scales": lsq,
                    "size_bytes": size["total"], "weight_bytes": size["weights"],
                    "best_epoch": hist["best_epoch"], "epochs": epochs,
                    "history": hist["history"], "seconds": time.perf_counter() - t0}

        tasks.append((inputs, compute))
    done = compute_points(tasks, cache, p.workers, "qat", progress, cost=cost)
    n_cached = sum(hit for _, hit in done)
    rows = [{"bits": b, "scheme": s, "granularity": g, "io_bits": p.io_bits, **result}
            for (b, s, g), (result, _) in zip(grid, done)]
    return {"float": flt, "points": rows, "params": p.model_dump(), "n_test": len(inp.test),
            "device": device, "points_cached": n_cached,
            "seconds": time.perf_counter() - t_start, "meta": inp.meta}


# --- minifloat -------------------------------------------------------------------------------------
def minifloat_sweep(inp: Inputs, p, cache: PointCache, progress: Optional[bool] = None) -> dict:
    """PTQ and/or QAT with minifloat weights and activations, for every format."""
    t_start = time.perf_counter()
    flt = float_point(inp, cache)
    device = check_device(p.device, "minifloat")
    fmts = [parse_format(f if isinstance(f, str) else f.model_dump(exclude_none=True))
            for f in p.formats]
    grid = [(f, m) for f in fmts for m in p.methods]
    f = p.finetune
    tasks, cost = [], []
    for fmt, method in grid:
        inputs = {"point": "minifloat", "format": fmt.describe(), "method": method,
                  "scaling": p.scaling, "io_format": p.io_format,
                  "calibration": p.calibration.model_dump(), **inp.fingerprint}
        epochs = f.epochs_for(fmt.bits, "minifloat") if method == "qat" else 0
        cost.append(epochs + 0.1)
        if method == "qat":
            inputs["finetune"] = {**f.model_dump(), "epochs": epochs}

        def compute(fmt=fmt, method=method, epochs=epochs):  # bound now: runs later
            t0 = time.perf_counter()
            cfg = QuantConfig.minifloat(fmt, p.scaling, p.io_format, qat_ema_decay=f.ema_decay,
                                        **_observer_kw(p.calibration))
            qm = quantize_model(inp.model, cfg)
            qm.calibrate(_calib_batches(inp, p.calibration))
            out = {}
            if method == "qat":
                out["ptq_accuracy"] = accuracy(qm, inp.test.x, inp.test.y)
                out["learned_scales"] = _learns_scales(f, fmt.bits, epochs)
                if out["learned_scales"]:
                    qm.learn_scales(f.scale_lr / f.lr)
                hist = finetune(qm, inp.train, inp.val, epochs=epochs, batch_size=f.batch_size,
                                lr=f.lr, weight_decay=f.weight_decay, seed=f.seed, device=device,
                                num_threads=1, progress=False)
                out.update(best_epoch=hist["best_epoch"], epochs=epochs, history=hist["history"])
            size = size_bytes(qm)
            out.update(accuracy=accuracy(qm, inp.test.x, inp.test.y), size_bytes=size["total"],
                       weight_bytes=size["weights"], seconds=time.perf_counter() - t0)
            return out

        tasks.append((inputs, compute))
    done = compute_points(tasks, cache, p.workers, "minifloat", progress, cost=cost)
    n_cached = sum(hit for _, hit in done)
    rows = []
    for (fmt, method), (result, _) in zip(grid, done):
        d = fmt.describe()
        rows.append({"format": fmt.name, "method": method, "bits": fmt.bits, "scaling": p.scaling,
                     "io_format": p.io_format,
                     **{k: d[k] for k in ("exp_bits", "man_bits", "bias", "subnormals", "saturate",
                                           "special", "max_normal", "min_subnormal")},
                     **result})
    return {"float": flt, "points": rows, "params": p.model_dump(), "n_test": len(inp.test),
            "device": device, "points_cached": n_cached,
            "seconds": time.perf_counter() - t_start, "meta": inp.meta}


# --- report helpers --------------------------------------------------------------------------------
def series_name(prefix: str, row: dict, granularities: list[str]) -> str:
    """Plot column for a row: ``ptq_symmetric`` (``_per_tensor`` added when that is swept)."""
    name = f"{prefix}_{row['scheme']}"
    if row["granularity"] != "per_channel":
        name += f"_{row['granularity'].replace('per_', 'per')}"
    return name


def bits_table(report: dict, prefix: str, with_float: bool) -> tuple[list[dict], list[str]]:
    """Rows keyed by bits with one accuracy column per series (for the dvc plot)."""
    grans = report["params"]["granularity"]
    # both per-channel columns always exist (empty when not swept): dvc.yaml's plot names them,
    # and dvc draws nothing at all when a named column is missing
    cols, by_bits = [f"{prefix}_symmetric", f"{prefix}_asymmetric"], {}
    for r in report["points"]:
        c = series_name(prefix, r, grans)
        if c not in cols:
            cols.append(c)
        by_bits.setdefault(r["bits"], {"bits": r["bits"]})[c] = r["accuracy"]
    rows = [by_bits[b] for b in sorted(by_bits)]
    if with_float:
        for r in rows:
            r["float"] = report["float"]["accuracy"]
        cols.append("float")
    return rows, ["bits", *cols]


def metrics(report: dict, key: str) -> dict:
    """A flat-ish summary for ``dvc metrics``: float accuracy and accuracy per point."""
    out = {"float_accuracy": round(report["float"]["accuracy"], 6)}
    for r in report["points"]:
        if key == "bits":
            name = f"{r['scheme']}{'' if r['granularity'] == 'per_channel' else '_per_tensor'}"
            out.setdefault(name, {})[f"{r['bits']}bit"] = round(r["accuracy"], 6)
        else:
            out.setdefault(r["method"], {})[r["format"]] = round(r["accuracy"], 6)
    return out

"""Benchmark: what one fine-tuning step costs, float against fake-quantized and masked models.

    python -m kws.bench finetune [--rounds 5] [--steps 4] [--batch 100]

QAT, minifloat QAT and unstructured pruning fine-tune the trained model (``models/model.pt``) on
``data/features``; their steps are most of the default pipeline's time (README: Reproducible and
affordable). This times a training step (forward, backward, Adam) of each kind on one thread,
as the sweep workers run them: the float model, 4-bit symmetric QAT with the qat stage's
settings, E4M3 minifloat QAT with the minifloat stage's, and a 70% magnitude-masked model, each
with ``train_model``'s channels-last input hook (``kws.training``) and without it. The kinds
take turns round by round, so a slow spell of a shared machine falls on all of them; it prints
the median ms per step and the ratio to the float step, and writes
``reports/bench/finetune.json``. About 2 min.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path


def _models(p, ck, calib) -> dict:
    from kws.prune import unstructured as un
    from kws.quant.minifloat import parse_format
    from kws.quant.run import _int_config, _learns_scales, _observer_kw
    from kws.quant.wrap import QuantConfig, quantize_model

    def qat_int4():
        qm = quantize_model(ck.model, _int_config(p.qat, 4, "symmetric", "per_channel",
                                                  p.qat.finetune.ema_decay))
        qm.calibrate(calib)
        if _learns_scales(p.qat.finetune, 4, p.qat.finetune.epochs_for(4, "qat")):
            qm.learn_scales(p.qat.finetune.scale_lr / p.qat.finetune.lr)
        return qm

    def qat_e4m3():
        m = p.minifloat
        cfg = QuantConfig.minifloat(parse_format("E4M3"), m.scaling, m.io_format,
                                    qat_ema_decay=m.finetune.ema_decay,
                                    **_observer_kw(m.calibration))
        qm = quantize_model(ck.model, cfg)
        qm.calibrate(calib)
        return qm

    return {"float": lambda: copy.deepcopy(ck.model), "qat_int4_symmetric": qat_int4,
            "qat_minifloat_e4m3": qat_e4m3,
            "masked_70pct": lambda: un.magnitude_prune(ck.model, 0.7)}


def _stepper(model, x, y, batch: int, hook: bool):
    """A function running one training step on the next batch of (x, y)."""
    import torch
    import torch.nn.functional as F

    from kws import training

    training.channels_last(model)
    if hook:
        for m in model.modules():
            m.register_forward_pre_hook(training._one_channel_input_channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    state = {"i": 0}

    def step():
        i = state["i"] % (len(y) // batch)
        state["i"] += 1
        xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kws.bench finetune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", default="models/model.pt")
    ap.add_argument("--features", default="data/features")
    ap.add_argument("--rounds", type=int, default=5, help="turns of every kind (median taken)")
    ap.add_argument("--steps", type=int, default=4, help="steps per kind and turn")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--out", default="reports/bench/finetune.json")
    args = ap.parse_args(argv)

    import torch

    from kws import checkpoint, config
    from kws.data.feature_files import load_features
    from kws.errors import KwsError

    try:
        p = config.load(args.params)
        ck = checkpoint.load(args.model)
        train = load_features(args.features, splits=("train",)).splits["train"]
    except KwsError as e:
        print(f"error: {e} (run `make run` first: the benchmark reads the pipeline's model and "
              "features)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    n = min(len(train), 40 * args.batch)
    x, y = train.x[:n].contiguous(), train.y[:n]
    calib = [x[i:i + 250] for i in range(0, min(1000, n), 250)]
    steppers = {}
    for kind, build in _models(p, ck, calib).items():
        for hook in (True, False):
            steppers[(kind, hook)] = _stepper(build(), x, y, args.batch, hook)
    for step in steppers.values():  # warm-up: first-call allocations, oneDNN primitive caches
        step()
    times = {k: [] for k in steppers}
    for _ in range(args.rounds):
        for k, step in steppers.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[k].append((time.perf_counter() - t0) / args.steps * 1000)
    ms = {k: statistics.median(v) for k, v in times.items()}
    base = ms[("float", True)]
    rows = [{"kind": kind, "channels_last_hook": hook, "ms_per_step": round(v, 2),
             "vs_float": round(v / base, 2)} for (kind, hook), v in ms.items()]
    print(f"one training step of {args.batch} clips, one thread, median of {args.rounds} turns "
          f"of {args.steps} steps:")
    print(f"{'kind':<22} {'hook':<5} {'ms/step':>8} {'x float':>8}")
    for r in rows:
        print(f"{r['kind']:<22} {'on' if r['channels_last_hook'] else 'off':<5} "
              f"{r['ms_per_step']:>8.1f} {r['vs_float']:>8.2f}")
    res = {"batch": args.batch, "threads": 1, "rounds": args.rounds, "steps": args.steps,
           "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0

"""profile stage (stages/profile_model.py): models/model.pt -> reports/profile/{metrics.json,layers.csv,models.csv}

For the trained model: parameters, flash at fp32 and int8, peak RAM at batch 1 (tensor liveness
over the deployed graph, fp32 and int8), MACs and FLOPs per layer and in total, the share of the
board's flash and RAM (``profile.board``), and batch-1 latency on the CPU (median, IQR, p10-p90
over ``profile.latency_runs`` warm runs, ``profile.num_threads`` threads) and on CUDA when
present. Conventions: kws/profiling.py. Also every registry model side by side with the
published figures (kws/literature.json) in reports/profile/models.csv.

  reports/profile/metrics.json   totals of the trained model (+ latency, board, conventions)
  reports/profile/layers.csv     one row per deployed op (BN folded, ReLU fused)
  reports/profile/models.csv     tiny_conv and ds_cnn side by side, with the literature figures

Why not stages/profile.py: Python puts a script's folder first on sys.path, so a profile.py in
stages/ would shadow the standard library's ``profile`` module for every stage script there;
torch._dynamo imports cProfile, which imports ``profile``, and every stage that trains or
exports would crash.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from kws.openmp import spin_briefly  # noqa: E402 (before torch loads)

spin_briefly()

CONVENTIONS = {
    "macs": "multiply-accumulates of one batch-1 inference of the deployed graph (BatchNorm "
            "folded, ReLU fused, pad/flatten/dropout removed); average pool = KH*KW MACs per "
            "output element",
    "flops": "2 per MAC + 1 per bias add",
    "flash": "weights at the deployed precision: fp32 4 B/param; int8 1 B/weight + int32 "
             "biases + 8 B per output channel (scale, zero point) + 8 B per activation tensor; "
             "no flatbuffer overhead or code",
    "peak_ram": "largest sum of simultaneously live activation tensors over the execution "
                "order at batch 1 (input included, scratch and stack not)",
    "latency": "median and percentiles of warm batch-1 forwards, torch.inference_mode, threads "
               "pinned with torch.set_num_threads",
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    p.add_argument("--model", default="models/model.pt", help="trained checkpoint")
    p.add_argument("--reports", default="reports/profile", help="output folder")
    return p.parse_args(argv)


def _write_csv(path: Path, rows: list[dict]) -> None:
    from kws.stage import atomic_path

    cols = list(rows[0]) if rows else []
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v))
                        for k, v in r.items()})


def main(argv=None) -> None:
    args = parse_args(argv)
    from kws import config

    params = config.load(args.params)
    pp = params.profile

    import torch

    from kws import profiling
    from kws.models import REGISTRY, build_model
    from kws.stage import write_metrics
    from kws.checkpoint import load as load_checkpoint

    ck = load_checkpoint(args.model)
    model, meta = ck.model, ck.meta
    arch = meta["arch"]
    shape = tuple(meta.get("input_shape", (49, 10)))
    n_labels = int(meta.get("n_labels"))
    print(f"profiling {arch} ({n_labels} labels, input {shape[0]}x{shape[1]}) on "
          f"{profiling.BOARDS[pp.board].name}", flush=True)

    prof = profiling.profile_model(model, shape, pp.board)
    lat = profiling.latency_all(model, shape, pp.latency_runs, pp.warmup_runs, pp.num_threads)
    layers = prof.pop("layers")
    reports = Path(args.reports)

    lit = profiling.literature()
    compare, compare_lat = [], {}
    for name in REGISTRY:
        if name == arch:
            m, p, lt = model, prof, lat
        else:  # counts don't depend on the weights: a fresh model of the same label count
            torch.manual_seed(0)
            m = build_model(name, n_labels, shape)
            p = profiling.profile_model(m, shape, pp.board)
            p.pop("layers")
            lt = profiling.latency_all(m, shape, pp.latency_runs, pp.warmup_runs, pp.num_threads)
        compare_lat[name] = lt
        row = profiling.compare_row(name, p, lt, lit)
        row["trained"] = name == arch
        compare.append(row)

    cpu = lat["cpu"]
    print(f"params {prof['params']} ({prof['params_deployed']} deployed), MACs {prof['macs']:,}, "
          f"flash int8 {prof['flash_bytes']['int8']:,} B, peak RAM int8 "
          f"{prof['peak_ram_bytes']['int8']:,} B, CPU latency {cpu['median_ms']:.3f} ms "
          f"(IQR {cpu['iqr_ms']:.3f}, {cpu['num_threads']} thread(s))", flush=True)
    metrics = {"arch": arch, **prof, "latency": lat, "conventions": CONVENTIONS,
               "torch_version": torch.__version__}
    _write_csv(reports / "layers.csv", layers)
    _write_csv(reports / "models.csv", compare)
    write_metrics(reports / "metrics.json", metrics)


if __name__ == "__main__":
    from kws.stage import run

    run(main)

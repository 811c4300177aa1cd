"""train stage: data/features -> models/model.pt, reports/train/, reports/figures/{training_curves,confusion}.png

Trains ``model.arch`` with the ``train:`` params, keeps the best-validation epoch, evaluates it
on the test split and on real Speech Commands clips (``train.real_samples_dir``, skipped when
absent), logs each epoch with dvclive (reports/train/live) and writes:

  models/model.pt                  checkpoint: weights + everything to rebuild the model
  reports/train/metrics.json       test/val accuracy, per-class accuracy, real_sample_accuracy, ...
  reports/train/history.csv        per-epoch train/val loss and accuracy, LR, seconds
  reports/train/confusion.csv      one row {actual, predicted} per test clip (dvc plots confusion)
  reports/train/confusion.json     the matrix and its labels
  reports/figures/training_curves.png, reports/figures/confusion.png
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    p.add_argument("--features", default="data/features", help="featurize stage output folder")
    p.add_argument("--model", default="models/model.pt", help="checkpoint to write")
    p.add_argument("--reports", default="reports/train", help="metrics and plot data folder")
    p.add_argument("--figures", default="reports/figures", help="PNG figures folder")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="tqdm bar per epoch (default: only on a terminal)")
    return p.parse_args(argv)


def resolve_dir(value, root: Path):
    """A folder param: absolute as given, relative from the repository root; None stays None."""
    if value is None or str(value).strip() == "":
        return None
    p = Path(str(value)).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def main(argv=None) -> None:
    args = parse_args(argv)
    from kws import config

    params = config.load(args.params)  # validated first: a bad value stops before any work

    import numpy as np

    from kws import checkpoint, training
    from kws.data.feature_files import SPLITS, load_features
    from kws.data.labels import label_names
    from kws.models import build_model, count_params
    from kws.stage import atomic_path, write_json, write_metrics

    tp, mp, fp = params.train, params.model, params.features
    feats = load_features(args.features, expect_labels=label_names(params.data.words),
                          expect_shape=(fp.n_frames, fp.n_mfcc))
    labels, shape = feats.labels, feats.input_shape
    train, val, test = (feats.splits[s] for s in SPLITS)
    print(f"train {len(train)}  validation {len(val)}  test {len(test)} clips, input "
          f"{shape[0]}x{shape[1]}, {len(labels)} labels; model {mp.arch}", flush=True)

    training.seed_everything(tp.seed)
    model = build_model(mp.arch, len(labels), shape, mp.dropout)

    reports, figures = Path(args.reports), Path(args.figures)
    from dvclive import Live

    live_dir = reports / "live"
    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        def log_epoch(row: dict) -> None:
            live.log_metric("train/loss", row["train_loss"])
            live.log_metric("train/accuracy", row["train_accuracy"])
            live.log_metric("val/loss", row["val_loss"])
            live.log_metric("val/accuracy", row["val_accuracy"])
            live.log_metric("lr", row["lr"])
            live.next_step()

        res = training.train_model(
            model, train, val, epochs=tp.epochs, batch_size=tp.batch_size, lr=tp.lr,
            schedule=tp.schedule, weight_decay=tp.weight_decay,
            label_smoothing=tp.label_smoothing, seed=tp.seed, device=tp.device,
            num_threads=tp.num_threads, eval_batch_size=tp.eval_batch_size,
            warmup_epochs=tp.warmup_epochs, step_every=tp.step_every, step_gamma=tp.step_gamma,
            progress=args.progress, on_epoch=log_epoch)

    model = res.model
    ev_test = training.evaluate(model, test, tp.eval_batch_size)
    ev_val = training.evaluate(model, val, tp.eval_batch_size)
    cm = training.confusion_matrix(test.y.numpy(), ev_test.pred, len(labels))
    real = training.real_sample_accuracy(model, resolve_dir(tp.real_samples_dir, ROOT),
                                         list(params.data.words), labels, fp)
    epoch_s = [h["epoch_seconds"] for h in res.history]
    metrics = {
        "arch": mp.arch,
        "test_accuracy": ev_test.accuracy,
        "test_loss": ev_test.loss,
        "val_accuracy": ev_val.accuracy,
        "best_epoch": res.best_epoch,
        "epochs": tp.epochs,
        "train_seconds": res.seconds,
        "epoch_seconds_mean": float(np.mean(epoch_s)),
        "params": count_params(model),
        "per_class_accuracy": training.per_class_accuracy(cm, labels),
        "real_sample_accuracy": real["accuracy"],
        "real_sample": {k: v for k, v in real.items() if k != "accuracy"},
        "device": res.device,
        "num_threads": res.num_threads,
        "clips": {"train": len(train), "validation": len(val), "test": len(test)},
        "seed": tp.seed,
    }
    print(f"best epoch {res.best_epoch}: val {ev_val.accuracy:.4f}, test {ev_test.accuracy:.4f}; "
          f"real clips: {real['accuracy'] if real['accuracy'] is not None else real['note']}",
          flush=True)

    checkpoint.save(
        args.model, model, arch=mp.arch, labels=labels, input_shape=shape,
        features=feats.features or fp.model_dump(), model_params=mp.model_dump(),
        train_params=tp.model_dump(),
        extra={"best_epoch": res.best_epoch, "val_accuracy": ev_val.accuracy,
               "test_accuracy": ev_test.accuracy, "words": list(params.data.words)})

    cols = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
            "epoch_seconds"]
    with atomic_path(reports / "history.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for h in res.history:
            w.writerow({c: (f"{h[c]:.6g}" if isinstance(h[c], float) else h[c]) for c in cols})
    with atomic_path(reports / "confusion.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        for a, p in zip(test.y.numpy(), ev_test.pred):
            w.writerow([labels[a], labels[p]])
    write_json(reports / "confusion.json", {"labels": labels, "matrix": cm.tolist(),
                                             "rows": "actual", "columns": "predicted"})
    training.plot_curves(res.history, figures / "training_curves.png",
                         f"{mp.arch}: training curves (best epoch {res.best_epoch})")
    training.plot_confusion(cm, labels, figures / "confusion.png",
                            f"{mp.arch}: test confusion, accuracy {ev_test.accuracy:.3f}")
    write_metrics(reports / "metrics.json", metrics)


if __name__ == "__main__":
    from kws.stage import run

    run(main)

"""Float training and evaluation of the registry models.

* Data: ``kws.data.feature_files`` (the featurize stage's splits, loaded and checked there).
* Training: Adam; LR schedule cosine (to 0 over all steps), step (x ``step_gamma`` every
  ``step_every`` epochs) or constant, after an optional linear warm-up; optional label smoothing.
  The checkpoint kept is the epoch with the best validation accuracy; ties (a small validation
  split saturates at 1.0) go to the lower validation loss, then to the earlier epoch.
* Reproducible: python, numpy and torch seeded, ``torch.use_deterministic_algorithms``, a seeded
  generator for the shuffles, a fixed thread count. Same params + same data = same metrics (on
  the same machine and device).
* The checkpoint on disk is ``kws.checkpoint``'s.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.data.feature_files import Split
from kws.errors import KwsError

# --- reproducibility and device ---------------------------------------------------------------
def seed_everything(seed: int) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise KwsError("train.device is 'cuda' but torch sees no CUDA device: use auto or cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


# --- schedule ---------------------------------------------------------------------------------
def lr_factor(step: int, steps_per_epoch: int, epochs: int, schedule: str, warmup_epochs: int = 0,
              step_every: int = 10, step_gamma: float = 0.1) -> float:
    """Multiplier of the base LR at optimizer step ``step`` (0-based)."""
    warm = warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return step_gamma ** ((step // steps_per_epoch) // step_every)
    total = max(epochs * steps_per_epoch - warm, 1)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / total))


# --- loops ------------------------------------------------------------------------------------
@dataclass
class EvalResult:
    loss: float
    accuracy: float
    pred: np.ndarray
    logits: Optional[np.ndarray] = None


def channels_last(model: nn.Module) -> nn.Module:
    """The model's 4-D weights in NHWC order. On the CPU, oneDNN's channels-last convolutions
    (depthwise ones above all) train DS-CNN ~1.7x faster per thread than NCHW (measured here:
    77 vs 135 ms per step of 100 clips, one thread). The input [N, 1, H, W] is already both."""
    return model.to(memory_format=torch.channels_last)


def _one_channel_input_channels_last(module: nn.Module, args: tuple):
    """Forward pre-hook: a 4-D input with one channel, given channels-last strides.

    A [N, 1, H, W] tensor is contiguous in both layouts, so ``.contiguous(memory_format=...)``
    leaves it as it is, and a convolution picks its layout from input and weight strides. When
    the weight is computed on each step (fake-quantized in QAT, masked in unstructured pruning)
    it comes out with NCHW strides too, the first conv runs NCHW, and so does every layer after
    it: QAT and masked fine-tuning steps were 1.5-2x slower than they need to be. A view with
    NHWC strides (same memory, same values) makes the first conv channels-last."""
    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == 1 and x.is_contiguous():
        n, _, h, w = x.shape
        return (x.view(n, h, w, 1).permute(0, 3, 1, 2), *args[1:])
    return None


def contiguous(model: nn.Module) -> nn.Module:
    """Back to the default layout (what export, quantization and checkpoints expect)."""
    return model.to(memory_format=torch.contiguous_format)


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch_size: int = 1000,
             device: torch.device | str = "cpu") -> EvalResult:
    model.eval()
    device = torch.device(device)
    n = len(split)
    if n == 0:
        return EvalResult(float("nan"), float("nan"), np.zeros(0, np.int64))
    loss_sum, preds = 0.0, []
    for i in range(0, n, batch_size):
        xb = split.x[i:i + batch_size].to(device)
        yb = split.y[i:i + batch_size].to(device)
        logits = model(xb)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
    pred = torch.cat(preds).numpy()
    return EvalResult(loss_sum / n, float((pred == split.y.numpy()).mean()), pred)


@dataclass
class TrainResult:
    model: nn.Module  # with the best-validation weights, on the CPU, in eval mode
    history: list[dict]
    best_epoch: int
    best_val_accuracy: float
    seconds: float
    device: str
    num_threads: int


def train_model(model: nn.Module, train: Split, val: Split, *, epochs: int, batch_size: int,
                lr: float, schedule: str = "cosine", weight_decay: float = 0.0,
                label_smoothing: float = 0.0, seed: int = 0, device: str = "auto",
                num_threads: int = 2, eval_batch_size: int = 1000, warmup_epochs: int = 0,
                step_every: int = 10, step_gamma: float = 0.1, progress: Optional[bool] = None,
                on_epoch: Optional[Callable[[dict], None]] = None) -> TrainResult:
    """Train ``model`` in place and return it with the best validation epoch's weights.

    ``on_epoch(row)`` is called after each epoch with that epoch's metrics (dvclive logging).
    ``progress``: a tqdm bar per epoch (None: only on a terminal).
    """
    from tqdm.auto import tqdm

    torch.set_num_threads(num_threads)
    seed_everything(seed)
    dev = pick_device(device)
    model.to(dev)
    hooks = []
    if dev.type == "cpu":
        channels_last(model)
        hooks = [m.register_forward_pre_hook(_one_channel_input_channels_last)
                 for m in model.modules()]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(
        s, steps_per_epoch, epochs, schedule, warmup_epochs, step_every, step_gamma))
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = train.x.to(dev), train.y.to(dev)
    best_state, best_acc, best_loss, best_epoch = None, -1.0, math.inf, 0
    history = []
    t_start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=gen).to(dev)
        loss_sum = correct = seen = 0
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{epochs}", unit="batch",
                   leave=False, disable=(None if progress is None else not progress))
        for i in range(0, len(train), batch_size):
            idx = order[i:i + batch_size]
            xb, yb = x_all[idx], y_all[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            seen += len(yb)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        bar.close()
        train_seconds = time.perf_counter() - t0
        ev = evaluate(model, val, eval_batch_size, dev)
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "val_loss": ev.loss, "val_accuracy": ev.accuracy,
               "lr": opt.param_groups[0]["lr"], "epoch_seconds": train_seconds}
        history.append(row)
        if (ev.accuracy, -ev.loss) > (best_acc, -best_loss):
            best_acc, best_loss, best_epoch = ev.accuracy, ev.loss, epoch
            best_state = {k: v.detach().to("cpu", copy=True).contiguous()
                          for k, v in model.state_dict().items()}
        print(f"epoch {epoch:3d}/{epochs}  train loss {row['train_loss']:.4f} acc "
              f"{row['train_accuracy']:.4f}  val loss {ev.loss:.4f} acc {ev.accuracy:.4f}  "
              f"({train_seconds:.1f} s)", flush=True)
        if on_epoch is not None:
            on_epoch(row)
    seconds = time.perf_counter() - t_start
    for h in hooks:
        h.remove()
    contiguous(model.to("cpu"))
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, history, best_epoch, best_acc, seconds, dev.type,
                       torch.get_num_threads())


# --- metrics ----------------------------------------------------------------------------------
def confusion_matrix(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """``cm[actual, predicted]`` counts."""
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y, np.int64), np.asarray(pred, np.int64)), 1)
    return cm


def per_class_accuracy(cm: np.ndarray, labels: list[str]) -> dict[str, Optional[float]]:
    """Recall of each class (None for a class with no examples)."""
    out = {}
    for i, name in enumerate(labels):
        total = int(cm[i].sum())
        out[name] = float(cm[i, i] / total) if total else None
    return out


# --- real clips -------------------------------------------------------------------------------
def find_real_clips(folder: Path, words: list[str]) -> list[tuple[Path, int, str]]:
    """(wav, label index, word) of every clip in Speech Commands layout (``<word>/*.wav``).
    Words outside ``words`` are ``_unknown_``; ``_background_noise_`` is left out."""
    from kws.data.labels import label_of_word

    clips = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        if d.name.startswith("_"):
            continue
        for wav in sorted(d.glob("*.wav")):
            clips.append((wav, label_of_word(d.name, words), d.name))
    return clips


def wilson_interval(hits: int, n: int, confidence: float = 0.95) -> Optional[list[float]]:
    """[low, high] of the Wilson score interval of ``hits / n`` (scipy), None when n is 0."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(hits, n).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def real_sample_accuracy(model: nn.Module, folder: Optional[Path], words: list[str],
                         labels: list[str], features_spec, batch_size: int = 256) -> dict:
    """Accuracy on real recordings (e.g. Speech Commands v0.01 clips).

    Returns ``accuracy`` (None when skipped) with a ``note`` saying why, and the accuracy on
    keyword clips and on ``_unknown_`` clips separately (the folder has 2x more non-keywords),
    each with its Wilson 95% interval (``interval_95``): on 100 keyword clips one clip is a
    point, and the same params on two machines' data moved the keyword figure 16 points.
    """
    if folder is None:
        return {"accuracy": None, "note": "train.real_samples_dir is null: skipped"}
    if not folder.is_dir():
        return {"accuracy": None, "folder": str(folder),
                "note": f"{folder} not found: real-sample evaluation skipped"}
    clips = find_real_clips(folder, words)
    if not clips:
        return {"accuracy": None, "folder": str(folder),
                "note": f"{folder} holds no <word>/*.wav clips: skipped"}
    try:
        from kws.features import mfcc_of_wav
    except ImportError as err:
        return {"accuracy": None, "folder": str(folder),
                "note": f"kws.features.mfcc_of_wav unavailable ({err}): skipped"}
    feats, ys, words_of, skipped = [], [], [], []
    for wav, y, word in clips:
        try:
            feats.append(np.asarray(mfcc_of_wav(wav, features_spec), np.float32))
        except KwsError as err:
            skipped.append(f"{wav.name}: {err}")
            continue
        ys.append(y)
        words_of.append(word)
    if not feats:
        return {"accuracy": None, "folder": str(folder), "skipped": len(skipped),
                "note": "no clip could be read: skipped"}
    split = Split(torch.from_numpy(np.stack(feats)).unsqueeze(1), torch.tensor(ys))
    ev = evaluate(model, split, batch_size, "cpu")
    y = split.y.numpy()
    kw = y >= 2
    cm = confusion_matrix(y, ev.pred, len(labels))
    right = {"accuracy": ev.pred == y, "keyword_accuracy": ev.pred[kw] == y[kw],
             "unknown_accuracy": ev.pred[~kw] == y[~kw]}
    return {
        "accuracy": ev.accuracy, "clips": int(len(y)), "folder": str(folder),
        "interval_95": {k: wilson_interval(int(r.sum()), len(r)) for k, r in right.items()},
        "keyword_clips": int(kw.sum()), "unknown_clips": int((~kw).sum()),
        **{k: float(right[k].mean()) if len(right[k]) else None
           for k in ("keyword_accuracy", "unknown_accuracy")},
        "per_class_accuracy": per_class_accuracy(cm, labels),
        "skipped": len(skipped), "skipped_examples": skipped[:5],
        "note": "real recordings; words outside data.words count as _unknown_; no _silence_ clips",
    }


# --- figures ----------------------------------------------------------------------------------
def plot_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kws.stage import atomic_path

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    a1.plot(ep, [h["val_loss"] for h in history], label="validation")
    a1.set_xlabel("epoch"), a1.set_ylabel("cross-entropy loss"), a1.legend(), a1.grid(alpha=0.3)
    a2.plot(ep, [h["train_accuracy"] for h in history], label="train")
    a2.plot(ep, [h["val_accuracy"] for h in history], label="validation")
    a2.set_xlabel("epoch"), a2.set_ylabel("accuracy"), a2.legend(), a2.grid(alpha=0.3)
    fig.suptitle(title or "training curves")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, labels: list[str], path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kws.stage import atomic_path

    n = len(labels)
    rows = cm.sum(1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted"), ax.set_ylabel("actual")
    ax.set_title(title or "confusion matrix (test split; colour: row fraction)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)

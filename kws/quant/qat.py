"""Quantization-aware training: fine-tune a fake-quantized model (``kws.quant.wrap``) from the
float weights, gradients through the straight-through estimator.

Written here on purpose (quantization is the subject of this project); nothing comes from
``torch.ao.quantization``. BatchNorm is folded before QAT (``quantize_model`` does it), so the
folded conv weights are what is fine-tuned and quantized, exactly as they are deployed.
Activation ranges follow an EMA of each batch's min/max while training (``ActQuant`` in train
mode) and are frozen for evaluation; weight scales follow the weights (min/max of the current
weights at every step).

The loop itself is ``kws.training.train_model`` (Adam, cosine LR, best-validation epoch, seeded),
the one the float model was trained with; this module adds only that epoch 0 -- the calibrated
model before any step -- competes for "best", so QAT never returns something worse on the
validation split than the PTQ model it started from.
"""

from __future__ import annotations

import copy
import time
from typing import Optional

import torch
import torch.nn as nn

from kws.data.feature_files import Split
from kws.training import evaluate, train_model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
             device: str = "cpu") -> float:
    """Top-1 accuracy in [0, 1] (eval mode)."""
    return evaluate(model, Split(x, y), batch_size, device).accuracy


def finetune(model: nn.Module, train: Split, val: Split, *, epochs: int, batch_size: int = 100,
             lr: float = 5e-4, weight_decay: float = 0.0, seed: int = 0, device: str = "cpu",
             num_threads: Optional[int] = None, progress: Optional[bool] = None) -> dict:
    """Fine-tune ``model`` in place (it ends on the CPU in eval mode) and keep the weights with the
    best validation accuracy, epoch 0 (the model as given) included."""
    t0 = time.perf_counter()
    model.cpu()
    val0 = evaluate(model, val).accuracy
    history = [{"epoch": 0, "val_accuracy": val0}]
    if epochs == 0:
        return {"history": history, "best_epoch": 0, "best_val_accuracy": val0,
                "seconds": time.perf_counter() - t0}
    start = copy.deepcopy(model.state_dict())
    res = train_model(model, train, val, epochs=epochs, batch_size=batch_size, lr=lr,
                      schedule="cosine", weight_decay=weight_decay, seed=seed, device=device,
                      num_threads=num_threads or torch.get_num_threads(), progress=progress)
    history += [{k: v for k, v in row.items() if k != "lr"} for row in res.history]
    best_epoch, best_val = res.best_epoch, res.best_val_accuracy
    if best_val < val0:  # fine-tuning never beat the calibrated model on validation
        model.load_state_dict(start)
        best_epoch, best_val = 0, val0
    model.cpu().eval()
    return {"history": history, "best_epoch": best_epoch, "best_val_accuracy": best_val,
            "seconds": time.perf_counter() - t0}

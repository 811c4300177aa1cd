"""The model registry: ``tiny_conv`` (TF micro_speech, the course model) and ``ds_cnn`` (MLPerf
Tiny's keyword-spotting reference), chosen by ``model.arch``.

Every model takes ``[B, 1, frames, coeffs]`` float (NCHW, one channel: the MFCC image) and returns
logits ``[B, n_labels]`` (no softmax: the loss and the firmware's argmax don't need one).

Written for the deployed graph, which is TFLite NHWC (torch -> ONNX -> onnx2tf -> int8 TFLite):

* **Flatten in NHWC order.** Before a dense layer the activation is flattened as
  ``x.permute(0, 2, 3, 1).flatten(1)``. onnx2tf keeps activations NHWC, so this flatten is a plain
  RESHAPE there; flattening NCHW instead (``x.flatten(1)``) would force a TRANSPOSE back to NCHW
  in the converted model. The dense weights are then laid out (h, w, c) as TFLite expects.

* **TF 'SAME' padding, written as a functional pad that the converter merges into the conv.**
  TF's SAME pads ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` with the *smaller* half first:
  for the first conv of ds_cnn (10x4, stride 2, on 49x10) that is 4 top / 5 bottom and 1 left /
  1 right, giving 25x5; for tiny_conv (10x8, stride 2) 4/5 and 3/3, also 25x5. ``nn.Conv2d``
  only has symmetric padding, and no symmetric choice is equivalent: ``padding=(4, 1)`` gives
  24x5, and ``padding=(5, 1)`` gives 25x5 but shifts every window one row up (effective pads
  5/4, the mirror of TF's 4/5), which onnx2tf can only express as an explicit PAD op before a
  VALID conv. ``padding='same'`` is refused by torch for stride 2. So the model calls
  ``F.pad(x, same_pad(...))`` with constant, asymmetric pads and then a ``Conv2d`` with
  ``padding=0``. The ONNX export has ``Pad(pads = TF SAME) -> Conv(pads = 0)``; once the pads
  are constant-folded (kws.export.onnx.fold_constants), onnx2tf merges that pair into one
  CONV_2D with ``padding=SAME`` (checked in tests/test_convert.py: no PAD / TRANSPOSE op in
  the converted model), which is bit-for-bit TF's own SAME. The stride-1 3x3 depthwise convs
  need only symmetric 1/1 pads, which ``nn.Conv2d(padding=1)`` writes directly into the ONNX
  Conv (pads 1,1,1,1 = SAME). The pad is functional (not a module) so that it stays in the
  forward as a fixed graph constant under torch.fx as well.

* BatchNorm follows each conv (ds_cnn) so it folds into the conv for deployment; ReLU follows
  so it fuses as the conv's activation. Convs keep their bias, as the Keras reference does
  (``use_bias`` default), which makes the parameter count equal the published one.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from kws.errors import ParamsError

DEFAULT_INPUT_SHAPE = (49, 10)


def same_out(n: int, stride: int) -> int:
    """Output length of a TF 'SAME' conv/pool: ceil(n / stride)."""
    return -(-n // stride)


def same_pad_1d(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TF 'SAME' along one axis: the smaller half first."""
    total = max((same_out(n, stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


def same_pad(input_hw: tuple[int, int], kernel: tuple[int, int],
             stride: tuple[int, int]) -> tuple[int, int, int, int]:
    """``F.pad`` argument (left, right, top, bottom) reproducing TF 'SAME' on a [.., H, W] input."""
    top, bottom = same_pad_1d(input_hw[0], kernel[0], stride[0])
    left, right = same_pad_1d(input_hw[1], kernel[1], stride[1])
    return (left, right, top, bottom)


def flatten_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Flatten [B, C, H, W] in (H, W, C) order: a RESHAPE, not a TRANSPOSE, in NHWC TFLite."""
    return x.permute(0, 2, 3, 1).flatten(1)


class TinyConv(nn.Module):
    """TF micro_speech ``tiny_conv``: conv 8 filters 10x8 stride 2 SAME, ReLU, dropout, dense.

    Sized for the configured features: on 49x10 MFCC the conv gives 25x5x8 = 1000 values, so the
    dense layer has 1000 x n_labels weights.

    One change from TF's model: a BatchNorm after the conv. MFCCs are not scaled (c0 spans
    hundreds, the others units), which TF's version leaves to its feature quantization; the
    BatchNorm folds into the conv at export, so the deployed graph (CONV_2D, FULLY_CONNECTED)
    and its size are TF's. On the default synthetic data it lifted test accuracy by ~3 points.
    """

    def __init__(self, n_labels: int, input_shape=DEFAULT_INPUT_SHAPE, dropout: float = 0.2,
                 filters: int = 8, kernel=(10, 8), stride=(2, 2)):
        super().__init__()
        h, w = (int(s) for s in input_shape)
        self.input_shape = (h, w)
        self.pad = same_pad((h, w), kernel, stride)
        self.conv = nn.Conv2d(1, filters, kernel, stride, padding=0)
        self.bn = nn.BatchNorm2d(filters)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.out_hw = (same_out(h, stride[0]), same_out(w, stride[1]))
        self.fc = nn.Linear(filters * self.out_hw[0] * self.out_hw[1], n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.relu(self.bn(self.conv(F.pad(x, self.pad)))))
        return self.fc(flatten_nhwc(x))


class DSBlock(nn.Module):
    """Depthwise-separable block: dw 3x3 (SAME, stride 1) + BN + ReLU, pw 1x1 + BN + ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 3, 1, padding=1, groups=channels)
        self.dw_bn = nn.BatchNorm2d(channels)
        self.dw_relu = nn.ReLU()
        self.pw = nn.Conv2d(channels, channels, 1)
        self.pw_bn = nn.BatchNorm2d(channels)
        self.pw_relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_relu(self.dw_bn(self.dw(x)))
        return self.pw_relu(self.pw_bn(self.pw(x)))


class DSCNN(nn.Module):
    """MLPerf Tiny KWS reference DS-CNN: conv 64 10x4 stride 2 SAME + BN + ReLU, 4 DS blocks of 64,
    dropout, global average pool, dense. 23,756 parameters and ~2.66 M MACs at 49x10 with 12
    labels (see kws/data/literature.json for the published figures)."""

    def __init__(self, n_labels: int, input_shape=DEFAULT_INPUT_SHAPE, dropout: float = 0.2,
                 channels: int = 64, blocks: int = 4, kernel=(10, 4), stride=(2, 2)):
        super().__init__()
        h, w = (int(s) for s in input_shape)
        self.input_shape = (h, w)
        self.pad = same_pad((h, w), kernel, stride)
        self.conv = nn.Conv2d(1, channels, kernel, stride, padding=0)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.blocks = nn.Sequential(*[DSBlock(channels) for _ in range(blocks)])
        self.dropout = nn.Dropout(dropout)
        self.out_hw = (same_out(h, stride[0]), same_out(w, stride[1]))
        # Keras AveragePooling2D(pool_size=feature map) in the reference: one window, 1x1 out.
        self.pool = nn.AvgPool2d(self.out_hw)
        self.fc = nn.Linear(channels, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.conv(F.pad(x, self.pad))))
        x = self.pool(self.dropout(self.blocks(x)))
        return self.fc(flatten_nhwc(x))


REGISTRY: dict[str, Callable[..., nn.Module]] = {"tiny_conv": TinyConv, "ds_cnn": DSCNN}


def build_model(arch: str, n_labels: int, input_shape=DEFAULT_INPUT_SHAPE,
                dropout: float = 0.2) -> nn.Module:
    """A fresh model of the registry. Input ``[B, 1, frames, coeffs]``, output ``[B, n_labels]``."""
    if arch not in REGISTRY:
        raise ParamsError(f"model.arch = {arch!r}: not in the registry ({', '.join(REGISTRY)})")
    if int(n_labels) < 2:
        raise ParamsError(f"a model needs at least 2 labels (got {n_labels})")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ParamsError(f"input_shape must be (frames, coeffs), got {input_shape!r}")
    if not 0 <= dropout < 1:
        raise ParamsError(f"dropout must be in [0, 1), got {dropout}")
    return REGISTRY[arch](int(n_labels), shape, dropout)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


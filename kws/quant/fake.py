"""Uniform (integer) quantization: scales, zero points, round/clamp, and the straight-through
estimator (STE).

Written here on purpose -- quantization is the subject of this project -- instead of taken from
``torch.ao.quantization`` (which is not used anywhere in ``kws``). Every formula is in this file.

Conventions (the same as TFLite's int8 spec, generalised to ``b`` bits)::

    real = scale * (q - zero_point)

    symmetric   zero_point = 0, q in [-2^(b-1), 2^(b-1) - 1],
                scale = max(|min|, |max|) / (2^(b-1) - 1)
                -- unsigned (an activation quantizer whose calibrated min is >= 0, i.e. after
                a ReLU): zero_point = 0, q in [0, 2^b - 1], scale = max / (2^b - 1)
    asymmetric  q in [0, 2^b - 1], the range is first widened to contain 0 (so that 0 is exact),
                scale = (max - min) / (2^b - 1), zero_point = qmin - round(min / scale),
                clamped to [qmin, qmax]

Example: the range [-10, 12] at 4 bits gives scale 12/7 symmetric, and scale 22/15 with zero
point round(10 / (22/15)) = round(6.82) = 7 asymmetric; [0, 12] at 4 bits unsigned symmetric
gives scale 12/15.

Why unsigned symmetric: a signed range spends its sign bit on a tensor that is never negative,
so a ReLU output keeps only 2^(b-1) of its 2^b codes -- at 2 bits that is {0, s}, a binary
activation, and neither PTQ nor QAT gets a DS-CNN past ~25% (measured here, even with 8-bit
weights). Zero point 0 is what makes a scheme symmetric (no zero-point terms in the integer
kernel); the same choice is LSQ's (Esser et al. 2020: unsigned activations, signed weights) and
AIMET's "unsigned symmetric" encoding. Weights, the network input and the logits, which are
signed, keep the signed range.

Rounding is to nearest, ties to even (``torch.round``, the IEEE default); the integer emulation
in ``kws.quant.integer`` uses the same rule, so the two agree bit for bit except where float32
accumulation lands within an ulp of a rounding boundary. (TFLite rounds ties away from zero;
the two differ only on exact ties, x / scale = k + 1/2, which real-valued data almost never hits.)

Gradients (STE): ``round`` passes the gradient through unchanged, ``clamp`` stops it outside the
range. Hence ``d quantize(x) / dx = 1 / scale`` inside the representable range and 0 outside,
``d dequantize(q) / dq = scale``, and so ``d fake_quantize(x) / dx = 1`` inside, 0 outside.
When ``scale`` is a tensor that requires grad, autograd through the same formula gives the
LSQ gradient with respect to the scale (Esser et al., 2020); the default flows keep scales
derived from ranges (no gradient).
"""

from __future__ import annotations

import torch

SCALE_EPS = 1e-12  # a zero range (a dead channel, an all-zero tensor) gets this scale, not 0


def qrange(bits: int, symmetric: bool, unsigned: bool = False) -> tuple[int, int]:
    """The integer range: symmetric [-2^(b-1), 2^(b-1)-1] (unsigned symmetric and asymmetric:
    [0, 2^b-1])."""
    if not 1 < bits <= 32:
        raise ValueError(f"bits must be in 2..32 (got {bits})")
    if symmetric and not unsigned:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def round_nearest(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, ties to even."""
    return torch.round(x)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round_nearest`` forward, identity backward (the straight-through estimator)."""
    if not (torch.is_grad_enabled() and x.requires_grad):
        return torch.round(x)  # no gradient wanted: skip the two extra passes
    return x + (torch.round(x) - x).detach()


def scale_zero_point(xmin, xmax, bits: int, symmetric: bool,
                     unsigned: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point for the range [xmin, xmax] (tensors broadcast: per channel works).

    Returns float32 ``scale`` and an integer-valued float32 ``zero_point`` (0 when symmetric).
    ``unsigned`` (symmetric only): the range [0, 2^b-1], for tensors that are never negative.
    """
    xmin = torch.as_tensor(xmin, dtype=torch.float64)
    xmax = torch.as_tensor(xmax, dtype=torch.float64)
    qmin, qmax = qrange(bits, symmetric, unsigned)
    if symmetric and unsigned:
        scale = torch.clamp(xmax, min=0.0) / qmax
        scale = torch.clamp(scale, min=SCALE_EPS)
        zp = torch.zeros_like(scale)
    elif symmetric:
        scale = torch.maximum(xmin.abs(), xmax.abs()) / qmax
        scale = torch.clamp(scale, min=SCALE_EPS)
        zp = torch.zeros_like(scale)
    else:
        lo = torch.clamp(xmin, max=0.0)
        hi = torch.clamp(xmax, min=0.0)
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=SCALE_EPS)
        zp = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax)
    return scale.float(), zp.float()


def quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor:
    """``clamp(round(x / scale) + zero_point, qmin, qmax)`` as integer-valued floats, with STE.

    Gradient: ``1 / scale`` inside [qmin, qmax], 0 where clamped.
    """
    return torch.clamp(round_ste(x / scale) + zero_point, qmin, qmax)


def dequantize(q: torch.Tensor, scale, zero_point) -> torch.Tensor:
    """``scale * (q - zero_point)``; gradient ``scale``."""
    return (q - zero_point) * scale


class _FakeQuantize(torch.autograd.Function):
    """``dequantize(quantize(x))`` in one pass forward and one backward, with the STE gradients
    autograd would give that composition (``tests/test_quant_fake.py`` checks both against it):

        d y / d x     = 1 inside [qmin, qmax], 0 where clamped
        d y / d scale = (q - zero_point) - x / scale   inside,  (q - zero_point) outside  (LSQ)

    Why fused: QAT spends about a third of each step in these element-wise passes (and their
    saved tensors) when autograd records the five separate ops."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        u = x / scale
        t = torch.round(u).add_(zero_point)
        inside = (t >= qmin) & (t <= qmax)
        t.clamp_(qmin, qmax).sub_(zero_point)          # q - zero_point
        if ctx.needs_input_grad[1]:
            ctx.save_for_backward(inside, t - u * inside)  # d y / d scale, per element
        else:
            ctx.save_for_backward(inside)
        ctx.scale_shape = scale.shape
        return t.mul_(scale)

    @staticmethod
    def backward(ctx, g):
        inside, *rest = ctx.saved_tensors
        gx = g * inside if ctx.needs_input_grad[0] else None
        gs = (g * rest[0]).sum_to_size(ctx.scale_shape) if rest else None
        return gx, gs, None, None, None


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor:
    """Quantize then dequantize: the float value the integer model will see. Gradient 1 inside
    the representable range, 0 outside (and LSQ's for a ``scale`` that requires grad)."""
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    zero_point = torch.as_tensor(zero_point, dtype=x.dtype, device=x.device)
    return _FakeQuantize.apply(x, scale, zero_point, qmin, qmax)


def channel_view(v: torch.Tensor, like: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Reshape a per-channel vector so it broadcasts along ``axis`` of ``like``."""
    shape = [1] * like.dim()
    shape[axis] = -1
    return v.reshape(shape)


def tensor_range(w: torch.Tensor, per_channel: bool, axis: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of ``w``: scalars, or one per slice along ``axis`` when ``per_channel``."""
    w = w.detach()
    if not per_channel:
        return w.min(), w.max()
    flat = w.transpose(0, axis).reshape(w.shape[axis], -1)
    return flat.min(dim=1).values, flat.max(dim=1).values


def quantize_tensor(w: torch.Tensor, bits: int, symmetric: bool, per_channel: bool = False,
                    axis: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer codes, scale and zero point of ``w`` from its own min/max (weights).

    ``scale`` and ``zero_point`` are per channel (shape [C]) when ``per_channel``.
    """
    lo, hi = tensor_range(w, per_channel, axis)
    scale, zp = scale_zero_point(lo, hi, bits, symmetric)
    qmin, qmax = qrange(bits, symmetric)
    s = channel_view(scale, w, axis) if per_channel else scale
    z = channel_view(zp, w, axis) if per_channel else zp
    return quantize(w, s, z, qmin, qmax), scale, zp


def fake_quantize_tensor(w: torch.Tensor, bits: int, symmetric: bool, per_channel: bool = False,
                         axis: int = 0) -> torch.Tensor:
    """Fake-quantize ``w`` with scale and zero point from its own (detached) min/max."""
    q, scale, zp = quantize_tensor(w, bits, symmetric, per_channel, axis)
    if per_channel:
        scale, zp = channel_view(scale, w, axis), channel_view(zp, w, axis)
    return dequantize(q, scale, zp)

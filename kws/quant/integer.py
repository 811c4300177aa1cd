"""Integer-only emulation of a fake-quantized model (integer formats), to show that what the
fake-quant model computes in float is what an integer-only device computes.

Written here on purpose (quantization is the subject of this project); nothing comes from
``torch.ao.quantization``. The traced graph of a ``QuantModel`` is re-run with integers:

- the input is quantized once: ``q = clamp(round(x / s) + z)``;
- a conv/linear (a weighted layer kind: its own ``forward``, kws/layers) accumulates
  ``sum (q_x - z_x)(q_w - z_w) + q_b`` exactly: the integer-valued operands are carried in
  float32 when every partial sum is provably below 2^24 (fan-in x
  max|x| x max|w|), else in float64 (exact below 2^53), and the result is checked to be
  integral; the accumulator is checked to fit int32, as on the device. It is at scale
  ``s_x * s_w``;
- every other layer is its kind's ``integer`` (kws/layers): ReLU on an accumulator is
  ``max(acc, 0)``, on a quantized tensor ``max(q, z)``; zero padding pads with the zero point;
  average pooling sums ``q - z`` over the window (scale ``s / N``); layout ops and max pooling
  move codes;
- every quantizer requantizes an accumulator with a fixed-point multiplier, as TFLite does:
  ``M = s_acc / s_out = m0 * 2^(shift - 31)`` with ``m0`` a 31-bit integer, then
  ``q = round(acc * m0 / 2^(31 - shift)) + z`` (one rounding, ties to even as the fake
  quantizers), clamped. TFLite rounds in two steps (``SaturatingRoundingDoublingHighMul`` then
  ``RoundingDivideByPOT``, ties away from zero), which can differ by 1 LSB at rare ties.

``IntegerModel(qm)(x)`` returns the output codes; ``agreement(qm, x)`` compares them with the
fake-quant model's output codes.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from kws import layers
from kws.layers.common import Acc, QTensor, Use
from kws.quant.fake import channel_view
from kws.quant.wrap import ActQuant, IntFormat, QuantLayer, QuantModel

INT32_MAX = 2**31 - 1


def quantize_multiplier(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``m = m0 * 2^(shift - 31)`` with ``m0`` in [2^30, 2^31) (int64 tensors)."""
    m = torch.as_tensor(m, dtype=torch.float64)
    if (m <= 0).any():
        raise ValueError("requantization multipliers must be positive")
    mant, exp = torch.frexp(m)  # m = mant * 2^exp, mant in [0.5, 1)
    m0 = torch.round(mant * 2**31).to(torch.int64)
    carry = m0 == 2**31
    m0 = torch.where(carry, m0 // 2, m0)
    shift = exp.to(torch.int64) + carry.to(torch.int64)
    return m0, shift


def multiply_by_quantized_multiplier(acc: torch.Tensor, m0: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``round(acc * m0 / 2^(31 - shift))``, ties to even, in int64 (``m0``/``shift`` broadcast,
    e.g. per channel)."""
    if acc.numel() and acc.abs().max() > INT32_MAX:
        raise OverflowError("accumulator exceeds int32")
    right = 31 - shift
    # a multiplier below 2^-31 gives 0 (as TFLite); one of 2^31 or more is not an int32 result
    m0 = torch.where(right > 62, torch.zeros_like(m0), m0)
    right = torch.clamp(right, max=62)
    if (right < 1).any():
        raise OverflowError("requantization multiplier >= 1: the output scale is too small")
    prod = acc * m0  # |acc| < 2^31 and m0 < 2^31: fits int64
    mag = prod.abs()
    q = mag >> right
    rem = mag - (q << right)
    half = torch.ones_like(right) << (right - 1)
    q = q + ((rem > half) | ((rem == half) & (q & 1 == 1))).to(torch.int64)
    return torch.where(prod < 0, -q, q)


class IntegerModel:
    """Integer-only re-execution of a calibrated ``QuantModel`` with integer formats."""

    def __init__(self, qm: QuantModel):
        for name, aq in qm.act_quants().items():
            if not isinstance(aq.fmt, IntFormat):
                raise ValueError(f"{name}: integer emulation needs integer formats (got {aq.fmt.name})")
            if not aq.calibrated:
                raise ValueError(f"{name}: not calibrated")
        for name, lay in qm.layers().items():
            if not isinstance(lay.fmt, IntFormat):
                raise ValueError(f"{name}: integer emulation needs integer formats (got {lay.fmt.name})")
        self.qm = qm
        self._weights = {}
        with torch.no_grad():
            for name, lay in qm.layers().items():
                s, z = lay.weight_qparams()
                q = lay.fmt.quantize(lay.weight, lay._view(s), lay._view(z))
                s_b = lay.bias_scale()
                qb = None
                if lay.bias is not None:
                    if s_b is None:
                        raise ValueError(f"{name}: the bias is not quantized (set bias_bits)")
                    lo, hi = -(2 ** (qm.config.bias_bits - 1)), 2 ** (qm.config.bias_bits - 1) - 1
                    qb = torch.clamp(torch.round(lay.bias / s_b), lo, hi).to(torch.int64)
                self._weights[name] = (q.to(torch.int64), s, z.to(torch.int64), qb)

    # --- ops -------------------------------------------------------------------------------------------
    def act(self, aq: ActQuant, x):
        scale, zp = aq.qparams()
        fmt = aq.fmt
        if isinstance(x, torch.Tensor):  # the float network input
            q = fmt.quantize(x.float(), scale, zp).to(torch.int64)
            return QTensor(q, scale.item(), int(zp.item()), fmt.qmin, fmt.qmax)
        if isinstance(x, QTensor):
            x = Acc(x.q - x.zp, torch.tensor(x.scale, dtype=torch.float64))
        m = x.scale.double() / scale.double().item()
        m0, shift = quantize_multiplier(m)
        q = multiply_by_quantized_multiplier(x.acc, m0, shift) + int(zp.item())
        q = torch.clamp(q, fmt.qmin, fmt.qmax)
        return QTensor(q, scale.item(), int(zp.item()), fmt.qmin, fmt.qmax)

    def layer(self, name: str, lay: QuantLayer, x):
        if not isinstance(x, QTensor):
            raise ValueError(f"{name}: input is not a quantized tensor")
        qw, s_w, z_w, qb = self._weights[name]
        xi = x.q - x.zp
        wi = qw - lay._view(z_w)
        mod = lay.layer
        kind = layers.kind_of(mod)

        def run(dtype):  # the layer's own function on integer-valued operands
            return kind.forward(mod, xi.to(dtype), wi.to(dtype), None)

        # Integers are exact in float32 while every partial sum stays below 2^24; beyond that
        # (or if the float32 kernel is not exact) float64, exact below 2^53.
        fan_in = wi[0].numel()
        bound = fan_in * int(xi.abs().max()) * int(wi.abs().max())
        acc = run(torch.float32) if bound < 2**24 else None
        if acc is None or not torch.equal(acc, torch.round(acc)):
            acc = run(torch.float64)
        acc = torch.round(acc).to(torch.int64)
        s_acc = torch.as_tensor(x.scale, dtype=torch.float64) * s_w.double()
        if s_acc.dim():
            s_acc = channel_view(s_acc, acc, 1)
        if qb is not None:
            acc = acc + (channel_view(qb, acc, 1) if qb.dim() else qb)
        if acc.abs().max() > INT32_MAX:
            raise OverflowError(f"{name}: accumulator exceeds int32")
        return Acc(acc, s_acc)

    # --- running the graph -----------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> QTensor:
        with torch.no_grad():
            out = _Interpreter(self).run(x)
        if isinstance(out, Acc):
            raise ValueError("the network output is not requantized")
        return out


class _Interpreter(fx.Interpreter):
    """Runs the graph on integer values: quantizers and weighted layers here, every other
    call by its layer kind (``Kind.integer``, kws/layers)."""

    def __init__(self, owner: IntegerModel):
        super().__init__(owner.qm.gm)
        self.owner = owner

    def call_module(self, target, args, kwargs):
        o = self.owner
        m = self.module.get_submodule(target)
        x = args[0]
        if isinstance(m, ActQuant):
            return o.act(m, x)
        if isinstance(m, QuantLayer):
            return o.layer(target, m, x)
        kind = layers.kind_of(m, f"integer emulation: layer {target}")
        return kind.integer(x, Use(m, target, args, kwargs))

    def call_function(self, target, args, kwargs):
        quantized = [a for a in args if isinstance(a, (QTensor, Acc))]
        if not quantized:
            return target(*args, **kwargs)
        x = args[0]
        if target is getattr:  # x.shape, x.ndim
            return getattr(x.q if isinstance(x, QTensor) else x.acc, args[1])
        use = Use(None, target, args, kwargs)
        kind = layers.FUNCTIONS.get(target)
        if kind is None:
            raise ValueError(f"integer emulation does not support {use.describe()} (no layer kind "
                             "lists it in FUNCTIONS: kws/layers)")
        return kind.integer(x, use)

    def call_method(self, target, args, kwargs):
        x = args[0]
        if not isinstance(x, (QTensor, Acc)):
            return getattr(x, target)(*args[1:], **kwargs)
        t = x.q if isinstance(x, QTensor) else x.acc
        if target in ("size", "dim"):
            return getattr(t, target)(*args[1:], **kwargs)
        use = Use(None, target, args, kwargs)
        kind = layers.METHODS.get(target)
        if kind is None:
            raise ValueError(f"integer emulation does not support {use.describe()} (no layer kind "
                             "lists it in METHODS: kws/layers)")
        return kind.integer(x, use)


def agreement(qm: QuantModel, x: torch.Tensor, y: torch.Tensor | None = None,
              batch_size: int = 1000) -> dict:
    """Run the fake-quant model (eval mode) and the integer model on ``x`` and compare their
    output codes; with labels ``y``, also both accuracies."""
    qm.eval()
    int_model = IntegerModel(qm)
    fake, codes = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            fake.append(qm(x[i:i + batch_size]))
            out = int_model(x[i:i + batch_size])
            codes.append(out.q)
    fake, q_int = torch.cat(fake), torch.cat(codes)
    q_fake = torch.round(fake.double() / out.scale).to(torch.int64) + out.zp
    diff = (q_fake - q_int).abs()
    res = {
        "max_abs_lsb": int(diff.max()),
        "output_codes_equal": float((diff == 0).double().mean()),
        "argmax_agree": float((fake.argmax(1) == q_int.argmax(1)).double().mean()),
        "n": int(x.shape[0]),
    }
    if y is not None:
        res["fake_accuracy"] = float((fake.argmax(1) == y).double().mean())
        res["accuracy"] = float((q_int.argmax(1) == y).double().mean())
    return res

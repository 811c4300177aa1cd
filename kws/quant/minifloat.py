"""Minifloat ExMy formats: 1 sign bit, E exponent bits, M mantissa bits, an exponent bias,
optional subnormals, and saturating or inf/NaN overflow.

Written here on purpose (quantization is the subject of this project); nothing comes from
``torch.ao.quantization``. Rounding is IEEE round-to-nearest, ties to even (on the mantissa), as
the OCP 8-bit floating point (OFP8) and microscaling (MX) specifications use for conversion.

Value of a code with sign s, exponent field e, mantissa field m (bias B)::

    e > 0 (normal)       (-1)^s * 2^(e - B) * (1 + m / 2^M)
    e = 0 (subnormal)    (-1)^s * 2^(1 - B) * (m / 2^M)       (0 when subnormals are off)

What the top exponent field (all ones) means, ``special``:

    "ieee"  reserved: m = 0 is inf, m != 0 is NaN (IEEE 754; OCP E5M2)
    "fn"    finite numbers, except m = all ones, which is NaN (OCP E4M3, "E4M3FN")
    "none"  finite numbers only, no inf, no NaN (OCP MX FP6 E3M2 / E2M3, FP4 E2M1)

Overflow: ``saturate`` clamps to +-max_normal (the OCP "saturating" conversion); otherwise an
out-of-range value becomes inf ("ieee") or NaN ("fn"); "none" formats must saturate.

The presets follow the OCP specifications:

    E5M2  bias 15, ieee, max 57344, min subnormal 2^-16
    E4M3  bias 7,  fn,   max 448,   min subnormal 2^-9
    E3M2  bias 3,  none, max 28,    min subnormal 2^-4
    E2M3  bias 1,  none, max 7.5,   min subnormal 2^-3
    E2M1  bias 1,  none, max 6,     min subnormal 0.5

Any other ``ExMy`` gets bias 2^(E-1) - 1, subnormals, no specials, saturation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Optional

import torch

Special = Literal["ieee", "fn", "none"]


@dataclass(frozen=True)
class Minifloat:
    exp_bits: int
    man_bits: int
    bias: Optional[int] = None  # None: 2^(E-1) - 1
    subnormals: bool = True
    saturate: bool = True
    special: Special = "none"
    name: str = field(default="", compare=False)

    def __post_init__(self):
        if self.exp_bits < 1 or self.man_bits < 0 or self.exp_bits + self.man_bits > 15:
            raise ValueError(f"minifloat E{self.exp_bits}M{self.man_bits}: need E >= 1, M >= 0, "
                             "E + M <= 15")
        if self.special == "fn" and self.man_bits < 1:
            raise ValueError("special 'fn' needs at least one mantissa bit (NaN is m = all ones)")
        if self.special == "ieee" and self.exp_bits < 2:
            raise ValueError("special 'ieee' needs at least two exponent bits")
        if self.special == "none" and not self.saturate:
            raise ValueError("a format without inf/NaN (special 'none') must saturate")
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exp_bits - 1) - 1)
        if not self.name:
            object.__setattr__(self, "name", f"E{self.exp_bits}M{self.man_bits}")

    # --- the numbers of the format ------------------------------------------------------------
    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest normal number."""
        top = 2**self.exp_bits - 1
        return (top - 1 if self.special == "ieee" else top) - self.bias

    @property
    def max_normal(self) -> float:
        m = self.man_bits
        frac = 2 - 2 ** (1 - m) if self.special == "fn" else 2 - 2 ** (-m)
        return frac * 2.0**self.emax

    @property
    def min_normal(self) -> float:
        return 2.0**self.emin

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (self.emin - self.man_bits) if self.subnormals else self.min_normal

    def describe(self) -> dict:
        return {"name": self.name, "bits": self.bits, "exp_bits": self.exp_bits,
                "man_bits": self.man_bits, "bias": self.bias, "subnormals": self.subnormals,
                "saturate": self.saturate, "special": self.special,
                "max_normal": self.max_normal, "min_normal": self.min_normal,
                "min_subnormal": self.min_subnormal}

    # --- rounding -------------------------------------------------------------------------------
    def round(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest representable value (ties to even), with the format's overflow rule.

        Every step is exact (a power-of-two quantum, an integer round), so float32 gives the
        float64 result bit for bit wherever the quantum is a normal float32; it is 2-3x cheaper,
        and QAT rounds every activation twice a step. Other inputs go through float64."""
        if x.dtype == torch.float32 and self.emin - self.man_bits >= -126:
            return self._round_f32(x.detach())
        dtype = x.dtype
        x64 = x.detach().to(torch.float64)
        a = x64.abs()
        _, ex = torch.frexp(a)  # a = f * 2^ex, f in [0.5, 1): floor(log2 a) = ex - 1
        e = torch.clamp(ex.to(torch.float64) - 1, min=self.emin)  # subnormals share emin
        quantum = torch.exp2(e - self.man_bits)
        y = torch.round(a / quantum) * quantum  # torch.round: ties to even
        if not self.subnormals:
            tiny = a < self.min_normal
            # nearest of {0, min_normal}; the tie goes to 0 (the even code)
            y = torch.where(tiny, torch.where(a > self.min_normal / 2, self.min_normal, 0.0), y)
        over = y > self.max_normal
        if self.saturate:
            y = torch.where(over, torch.full_like(y, self.max_normal), y)
        else:
            y = torch.where(over, torch.full_like(y, float("inf") if self.special == "ieee"
                                                  else float("nan")), y)
        y = torch.copysign(y, x64)
        y = torch.where(torch.isnan(x64), x64, y)
        return y.to(dtype)

    def _round_f32(self, x: torch.Tensor) -> torch.Tensor:
        """``round`` in float32: the quantum 2^(e - M) built from its exponent bits."""
        a = x.abs()
        # floor(log2 a) from the exponent field (float32 subnormals and 0 fall below emin;
        # inf/NaN are capped so that the quantum stays finite), not frexp: 10x cheaper
        e = torch.bitwise_right_shift(a.view(torch.int32), 23).sub_(127).clamp_(self.emin, 127)
        quantum = torch.bitwise_left_shift(e - self.man_bits + 127, 23).view(torch.float32)
        y = torch.round(a / quantum).mul_(quantum)  # torch.round: ties to even
        if not self.subnormals:
            tiny = a < self.min_normal
            y = torch.where(tiny, torch.where(a > self.min_normal / 2, self.min_normal, 0.0), y)
        if self.saturate:
            y.clamp_(max=self.max_normal)
        else:
            y = torch.where(y > self.max_normal, float("inf") if self.special == "ieee"
                            else float("nan"), y)
        y = torch.copysign(y, x)
        return torch.where(torch.isnan(x), x, y)

    def fake(self, x: torch.Tensor) -> torch.Tensor:
        """``round`` forward; straight-through gradient (1 within +-max_normal, 0 beyond)."""
        if not (torch.is_grad_enabled() and x.requires_grad):
            return self.round(x)
        return _RoundSTE.apply(x, self)

    # --- bit patterns -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Round ``x`` and return its codes (int64, sign bit first: s eeee mmm)."""
        y = self.round(x).to(torch.float64)
        sign = torch.signbit(y).to(torch.int64)
        a = y.abs()
        M, top = self.man_bits, 2**self.exp_bits - 1
        _, ex = torch.frexp(a)
        e = ex.to(torch.int64) - 1
        normal = (a >= self.min_normal) & torch.isfinite(a)
        exp_field = torch.where(normal, e + self.bias, torch.zeros_like(e))
        man_norm = a / torch.exp2((e - M).to(torch.float64)) - 2**M
        man_sub = a / 2.0 ** (self.emin - M)
        man = torch.where(normal, man_norm, man_sub)
        man = torch.where(torch.isfinite(man), man, torch.zeros_like(man)).round().to(torch.int64)
        inf = torch.isinf(a)
        nan = torch.isnan(a)
        exp_field = torch.where(inf | nan, torch.full_like(exp_field, top), exp_field)
        man = torch.where(inf, torch.zeros_like(man), man)
        man = torch.where(nan, torch.full_like(man, 2**M - 1), man)
        return (sign << (self.exp_bits + M)) | (exp_field << M) | man

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Values (float64) of codes."""
        codes = torch.as_tensor(codes, dtype=torch.int64)
        M, top = self.man_bits, 2**self.exp_bits - 1
        sign = (codes >> (self.exp_bits + M)) & 1
        exp_field = (codes >> M) & top
        man = codes & (2**M - 1)
        frac = man.to(torch.float64) / 2**M
        normal = exp_field > 0
        val = torch.where(normal, torch.exp2((exp_field - self.bias).to(torch.float64)) * (1 + frac),
                          2.0**self.emin * frac)
        if not self.subnormals:
            val = torch.where(normal, val, torch.zeros_like(val))
        if self.special == "ieee":
            val = torch.where(exp_field == top, torch.where(man == 0, float("inf"), float("nan")), val)
        elif self.special == "fn":
            val = torch.where((exp_field == top) & (man == 2**M - 1), float("nan"), val)
        return torch.where(sign == 1, -val, val)


PRESETS = {
    "E5M2": dict(exp_bits=5, man_bits=2, bias=15, special="ieee"),
    "E4M3": dict(exp_bits=4, man_bits=3, bias=7, special="fn"),
    "E3M2": dict(exp_bits=3, man_bits=2, bias=3, special="none"),
    "E2M3": dict(exp_bits=2, man_bits=3, bias=1, special="none"),
    "E2M1": dict(exp_bits=2, man_bits=1, bias=1, special="none"),
}
_NAME = re.compile(r"^E(\d+)M(\d+)$")


class _RoundSTE(torch.autograd.Function):
    """``Minifloat.round`` with the straight-through gradient in one node: 1 where
    |x| <= max_normal, 0 beyond (what ``x + (round(x) - x).detach()`` inside and
    ``round(x).detach()`` outside give, without their extra passes)."""

    @staticmethod
    def forward(ctx, x, fmt):
        ctx.save_for_backward(x.abs() <= fmt.max_normal)
        return fmt.round(x)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside, None


def parse_format(spec) -> Minifloat:
    """A ``Minifloat`` from a name (``"E4M3"``: the OCP preset, or defaults for other ExMy) or a
    mapping of the dataclass fields (``{"exp_bits": 4, "man_bits": 3, "subnormals": false}``;
    ``name``/``exp_bits``/``man_bits`` may come from a ``format: E4M3`` key instead)."""
    if isinstance(spec, Minifloat):
        return spec
    if isinstance(spec, str):
        m = _NAME.match(spec.strip().upper())
        if not m:
            raise ValueError(f"minifloat format {spec!r}: write it as ExMy, e.g. E4M3")
        name = f"E{int(m.group(1))}M{int(m.group(2))}"
        kw = PRESETS.get(name, dict(exp_bits=int(m.group(1)), man_bits=int(m.group(2))))
        return Minifloat(**kw, name=name)
    if isinstance(spec, dict):
        spec = {k: v for k, v in spec.items() if v is not None}
        base = {}
        if "format" in spec:
            base = parse_format(spec.pop("format")).describe()
            base = {k: base[k] for k in ("exp_bits", "man_bits", "bias", "subnormals", "saturate",
                                         "special")}
        base.update(spec)
        if "name" not in base:
            variant = [k for k in ("bias", "subnormals", "saturate", "special") if k in spec]
            nm = f"E{base['exp_bits']}M{base['man_bits']}"
            base["name"] = nm + "".join(f"_{k}={spec[k]}" for k in variant)
        return Minifloat(**base)
    raise ValueError(f"minifloat format {spec!r}: give a name like E4M3 or a mapping")

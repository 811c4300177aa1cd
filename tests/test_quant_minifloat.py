"""Minifloat ExMy by hand: largest normals, smallest subnormals, codes of known values, ties to
even, saturation versus inf/NaN, formats without subnormals."""

import math

import pytest
import torch

from kws.quant.minifloat import Minifloat, parse_format


def enc(fmt, values):
    return fmt.encode(torch.tensor(values, dtype=torch.float32)).tolist()


def rnd(fmt, values):
    return fmt.round(torch.tensor(values, dtype=torch.float32)).tolist()


@pytest.mark.parametrize("name, max_normal, min_normal, min_sub, bits", [
    ("E5M2", 57344.0, 2.0**-14, 2.0**-16, 8),
    ("E4M3", 448.0, 2.0**-6, 2.0**-9, 8),
    ("E3M2", 28.0, 0.25, 0.0625, 6),
    ("E2M3", 7.5, 1.0, 0.125, 6),
    ("E2M1", 6.0, 1.0, 0.5, 4),
])
def test_ocp_presets(name, max_normal, min_normal, min_sub, bits):
    f = parse_format(name)
    assert (f.max_normal, f.min_normal, f.min_subnormal, f.bits) == (max_normal, min_normal, min_sub, bits)


def test_e4m3_codes_of_known_values():
    f = parse_format("E4M3")
    assert enc(f, [448.0, -448.0, 1.0, 2.0**-9, 2.0**-6, 0.0]) == [0x7E, 0xFE, 0x38, 0x01, 0x08, 0x00]
    assert enc(f, [1000.0]) == [0x7E]  # saturates
    assert enc(f, [float("nan")]) == [0x7F]
    assert math.isnan(f.decode(torch.tensor([0x7F])).item())
    assert f.decode(torch.tensor([0x7E, 0x01, 0x38])).tolist() == [448.0, 2.0**-9, 1.0]


def test_e4m3_rounding_ties_to_even():
    f = parse_format("E4M3")
    # quantum 1/8 in [1, 2): 1 + 1/16 is halfway between 1 (mantissa 000) and 1.125 (001)
    assert rnd(f, [1 + 1 / 16, 1 + 3 / 16, 1 + 1 / 16 + 1e-4]) == [1.0, 1.25, 1.125]
    # halfway between 0 and the smallest subnormal goes to 0; just above goes up
    assert rnd(f, [2.0**-10, 1.5 * 2.0**-10, -(2.0**-10)]) == [0.0, 2.0**-9, -0.0]
    # 464 is halfway between 448 (110) and 480 (111, NaN in E4M3): the even one, 448
    assert rnd(f, [464.0]) == [448.0]


def test_e5m2_overflow_saturates_or_goes_to_inf():
    sat = parse_format("E5M2")
    assert enc(sat, [57344.0, 1.0, 2.0**-16]) == [0x7B, 0x3C, 0x01]
    assert rnd(sat, [70000.0, float("inf")]) == [57344.0, 57344.0]
    ieee = Minifloat(5, 2, bias=15, special="ieee", saturate=False)
    # 61440 is halfway between 57344 (mantissa 11) and 65536 (inf): ties to even -> inf
    assert rnd(ieee, [61439.0, 61440.0, -70000.0]) == [57344.0, float("inf"), float("-inf")]
    assert enc(ieee, [float("inf")]) == [0x7C]
    assert ieee.decode(torch.tensor([0x7C, 0xFC])).tolist() == [float("inf"), float("-inf")]


def test_e4m3_without_saturation_overflows_to_nan():
    f = Minifloat(4, 3, bias=7, special="fn", saturate=False)
    assert math.isnan(rnd(f, [500.0])[0])
    assert rnd(f, [464.0]) == [448.0]


def test_e2m1_every_value_and_ties():
    f = parse_format("E2M1")
    codes = torch.arange(16)
    values = f.decode(codes).tolist()
    assert values[:8] == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert values[8:] == [-v for v in values[:8]]
    assert enc(f, values) == list(range(16))  # -0 keeps its sign bit: 0b1000
    # ties to even: 5 -> 4 (0110 even), 2.5 -> 2, 0.75 -> 1 (0010 even), 0.25 -> 0; 7 -> 6
    assert rnd(f, [5.0, 2.5, 0.75, 0.25, 7.0, 1.25]) == [4.0, 2.0, 1.0, 0.0, 6.0, 1.0]


def test_e3m2_extremes():
    f = parse_format("E3M2")
    assert enc(f, [28.0, 0.0625, 100.0]) == [0b011111, 0b000001, 0b011111]


def test_no_subnormals_flushes_to_zero_or_min_normal():
    f = Minifloat(4, 3, bias=7, subnormals=False, special="fn")
    assert f.min_subnormal == f.min_normal == 2.0**-6
    # nearest of {0, 2^-6}: below half -> 0, tie -> 0 (even), above half -> 2^-6
    assert rnd(f, [0.4 * 2.0**-6, 0.5 * 2.0**-6, 0.6 * 2.0**-6]) == [0.0, 0.0, 2.0**-6]
    assert f.decode(torch.tensor([0x01])).item() == 0.0  # exponent field 0 is zero


def test_custom_bias_shifts_the_range():
    f = parse_format({"format": "E4M3", "bias": 11})
    assert f.max_normal == 448.0 / 16 and f.min_subnormal == 2.0**-13
    assert f.name == "E4M3_bias=11"


def test_every_e4m3_code_round_trips():
    f = parse_format("E4M3")
    codes = torch.arange(256)
    values = f.decode(codes)
    ok = ~torch.isnan(values) & (codes != 0x80)  # -0 encodes as 0x80 too, but compare values
    assert torch.equal(f.encode(values[ok].float()), codes[ok])
    assert int(ok.sum()) == 256 - 2 - 1  # two NaN codes, and -0 skipped


def test_fake_gradient_is_straight_through_inside_the_range():
    f = parse_format("E2M1")
    x = torch.tensor([0.3, 2.7, 5.9, 6.5, -9.0], requires_grad=True)
    y = f.fake(x)
    assert y.tolist() == [0.5, 3.0, 6.0, 6.0, -6.0]
    y.sum().backward()
    assert x.grad.tolist() == [1, 1, 1, 0, 0]


@pytest.mark.parametrize("spec", ["E4", "x4m3", {"exp_bits": 0, "man_bits": 3},
                                  {"exp_bits": 3, "man_bits": 2, "saturate": False}])
def test_bad_formats_are_refused(spec):
    with pytest.raises(ValueError):
        parse_format(spec)


@pytest.mark.parametrize("name", ["E5M2", "E4M3", "E3M2", "E2M1", "E2M3", "E6M9"])
@pytest.mark.parametrize("extra", [{}, {"subnormals": False}, {"saturate": False}])
def test_float32_rounding_equals_the_float64_path(name, extra):
    """QAT rounds float32 tensors in float32 (exponent-field quantum); float64 inputs take the
    original frexp path. Both must give the same value bit for bit, edges included."""
    f = parse_format(name)
    if extra.get("saturate") is False and f.special == "none":
        pytest.skip("a format without inf/NaN must saturate")
    f = Minifloat(f.exp_bits, f.man_bits, f.bias, special=f.special,
                  **{"subnormals": True, "saturate": True, **extra})
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100_000, generator=g) * 10 ** torch.empty(100_000).uniform_(-12, 8, generator=g)
    grid = f.round(x.double()).float()
    edges = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 1e-45, -1e-45, 3e38, 2.0**-126,
                          f.max_normal, f.max_normal * 1.01, f.min_subnormal / 2,
                          f.min_subnormal * 0.75])
    for v in (x, grid, torch.nextafter(grid, torch.full_like(grid, math.inf)),
              grid * (1 + 2.0 ** -(f.man_bits + 1)), edges):
        v = v[torch.isfinite(v) | torch.isinf(v)]
        a, b = f.round(v), f.round(v.double()).float()
        assert torch.equal(torch.isnan(a), torch.isnan(b))
        keep = ~torch.isnan(a)
        assert torch.equal(a[keep].view(torch.int32), b[keep].view(torch.int32))

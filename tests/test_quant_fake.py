"""Uniform quantization by hand: scales, zero points, rounding and clamping at the edges, the
straight-through gradient, per-channel scales, observers."""

import pytest
import torch

from kws.quant import calibrate
from kws.quant.fake import (dequantize, fake_quantize, fake_quantize_tensor, qrange, quantize,
                            quantize_tensor, scale_zero_point)


def test_integer_ranges():
    assert qrange(4, True) == (-8, 7)
    assert qrange(4, False) == (0, 15)
    assert qrange(8, True) == (-128, 127)
    assert qrange(2, True) == (-2, 1)
    assert qrange(2, False) == (0, 3)
    with pytest.raises(ValueError):
        qrange(1, True)


def test_range_minus10_12_at_4_bits():
    s, z = scale_zero_point(-10.0, 12.0, 4, symmetric=True)
    assert s.item() == pytest.approx(12 / 7) and z.item() == 0
    s, z = scale_zero_point(-10.0, 12.0, 4, symmetric=False)
    assert s.item() == pytest.approx(22 / 15)
    assert z.item() == 7  # round(10 / (22/15)) = round(6.82)


def test_unsigned_symmetric_range_for_non_negative_tensors():
    assert qrange(4, True, unsigned=True) == (0, 15)
    assert qrange(2, True, unsigned=True) == (0, 3)
    s, z = scale_zero_point(0.0, 12.0, 4, symmetric=True, unsigned=True)
    assert s.item() == pytest.approx(12 / 15) and z.item() == 0
    # [0, 12] on the signed 4-bit grid: 12/7, so only codes 0..7 of -8..7 are ever used
    assert scale_zero_point(0.0, 12.0, 4, symmetric=True)[0].item() == pytest.approx(12 / 7)
    q = quantize(torch.tensor([0.0, 0.39, 0.41, 12.0, 20.0, -1.0]), s, z, 0, 15)
    assert q.tolist() == [0, 0, 1, 15, 15, 0]  # 0.41 / 0.8 = 0.51 -> 1; clamped at both ends


def test_asymmetric_range_is_widened_to_contain_zero():
    s, z = scale_zero_point(2.0, 5.0, 8, symmetric=False)  # all positive: [0, 5]
    assert s.item() == pytest.approx(5 / 255) and z.item() == 0
    s, z = scale_zero_point(-6.0, -1.0, 8, symmetric=False)  # all negative: [-6, 0]
    assert s.item() == pytest.approx(6 / 255) and z.item() == 255


def test_zero_range_gets_a_tiny_scale_not_zero():
    s, z = scale_zero_point(0.0, 0.0, 8, True)
    assert s.item() > 0
    assert quantize(torch.zeros(3), s, z, -128, 127).tolist() == [0, 0, 0]


def test_symmetric_rounding_and_clamping_at_the_edges():
    s = 12 / 7
    x = torch.tensor([12.0, -10.0, 0.0, 13.0, -14.0, -13.7, 100.0])
    q = quantize(x, torch.tensor(s), torch.tensor(0.0), -8, 7)
    # 12 -> 7 (the max), -10 -> round(-5.83) = -6, 13 -> 7.58 -> clamp 7,
    # -14 -> -8.17 -> clamp -8, -13.7 -> -7.99 -> -8 (the extra negative code), 100 -> 7
    assert q.tolist() == [7, -6, 0, 7, -8, -8, 7]
    assert dequantize(q, s, 0).tolist() == pytest.approx([12, -6 * s, 0, 12, -8 * s, -8 * s, 12])


def test_asymmetric_rounding_and_clamping_at_the_edges():
    s, z = torch.tensor(22 / 15), torch.tensor(7.0)
    x = torch.tensor([-10.0, 12.0, 0.0, 13.0, -11.5, 1.0])
    q = quantize(x, s, z, 0, 15)
    # -10 -> round(-6.82) + 7 = 0; 12 -> round(8.18) + 7 = 15; 0 -> 7 (exact zero);
    # 13 -> round(8.86) + 7 = 16 -> 15; -11.5 -> round(-7.84) + 7 = -1 -> 0; 1 -> round(.68) + 7 = 8
    assert q.tolist() == [0, 15, 7, 15, 0, 8]
    assert dequantize(q, s, z)[2].item() == 0.0
    assert dequantize(q, s, z)[0].item() == pytest.approx(-7 * 22 / 15)  # -10.27: zp rounding


def test_ties_round_to_even():
    q = quantize(torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 7.4, 7.5, -8.5]), 1.0, 0.0, -8, 7)
    assert q.tolist() == [0, 2, 2, 0, -2, 7, 7, -8]


def test_ste_gradient_is_one_over_scale_inside_zero_outside():
    s = 0.5
    # x / s = 0.4, 7.4 (rounds to 7: inside), 7.6 (rounds to 8: clamped), -8.4 (inside), -8.6, -40
    x = torch.tensor([0.2, 3.7, 3.8, -4.2, -4.3, -20.0], requires_grad=True) * 1.0
    x.retain_grad()
    quantize(x, s, 0.0, -8, 7).sum().backward()
    assert x.grad.tolist() == pytest.approx([1 / s, 1 / s, 0, 1 / s, 0, 0])


def test_ste_gradient_of_fake_quantize_is_identity_inside():
    x = torch.tensor([0.1, 3.0, 3.9, 10.0, -2.0], requires_grad=True)
    fake_quantize(x, torch.tensor(0.25), torch.tensor(3.0), 0, 15).sum().backward()
    # representable: (0 - 3) * .25 = -.75 .. (15 - 3) * .25 = 3; 3.9 -> 15.6 -> 16 clamped
    assert x.grad.tolist() == [1, 1, 0, 0, 0]


def test_dequantize_gradient_is_the_scale():
    q = torch.tensor([3.0, -2.0], requires_grad=True)
    dequantize(q, 0.125, 1.0).sum().backward()
    assert q.grad.tolist() == [0.125, 0.125]


def test_learnable_scale_gets_the_lsq_gradient():
    # d/ds [s * clamp(round(x / s))] = round(x/s) - x/s inside, the clamp bound outside
    s = torch.tensor(1.0, requires_grad=True)
    x = torch.tensor([0.2, 3.7, 9.0, -12.0])
    fake_quantize(x, s, 0.0, -8, 7).sum().backward()
    assert s.grad.item() == pytest.approx((0 - 0.2) + (4 - 3.7) + 7 + -8)


def test_per_channel_scales_on_a_known_tensor():
    w = torch.tensor([[1.0, -2.0, 0.5], [0.1, 0.2, -0.4], [0.0, 0.0, 0.0]])
    q, s, z = quantize_tensor(w, 8, symmetric=True, per_channel=True)
    assert s[:2].tolist() == pytest.approx([2 / 127, 0.4 / 127])
    assert s[2].item() > 0 and z.tolist() == [0, 0, 0]
    assert q.tolist() == [[64, -127, 32], [32, 64, -127], [0, 0, 0]]  # 63.5 -> 64 (even), 31.75 -> 32
    q, s, _ = quantize_tensor(w, 8, symmetric=True, per_channel=False)
    assert s.item() == pytest.approx(2 / 127)
    assert q[1].tolist() == [6, 13, -25]  # 6.35, 12.7, -25.4 with the tensor's scale
    q, s, z = quantize_tensor(w, 4, symmetric=False, per_channel=True)
    assert s[0].item() == pytest.approx(0.2) and z[0].item() == 10  # [-2, 1] -> 3 / 15
    assert q[0].tolist() == [15, 0, 12]  # 5 + 10, -10 + 10, 2.5 -> 2 (even) + 10


def test_per_channel_along_another_axis():
    w = torch.tensor([[1.0, -4.0], [0.5, 2.0]])  # channels are columns
    _, s, _ = quantize_tensor(w, 8, True, per_channel=True, axis=1)
    assert s.tolist() == pytest.approx([1 / 127, 4 / 127])
    assert fake_quantize_tensor(w, 8, True, True, axis=1)[0, 1].item() == pytest.approx(-4.0)


def test_minmax_ema_and_percentile_observers():
    b1, b2 = torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([-3.0, 2.0, 5.0])
    mm = calibrate.MinMaxObserver()
    ema = calibrate.EmaObserver(0.9)
    for b in (b1, b2):
        mm.observe(b)
        ema.observe(b)
    assert [v.item() for v in mm.range()] == [-3, 5]
    lo, hi = ema.range()
    assert lo.item() == pytest.approx(0.9 * -1 + 0.1 * -3) and hi.item() == pytest.approx(0.9 * 1 + 0.1 * 5)
    pc = calibrate.PercentileObserver(99.0)
    pc.observe(torch.arange(0, 501.0))
    pc.observe(torch.arange(501, 1001.0))
    lo, hi = pc.range()
    assert (lo.item(), hi.item()) == pytest.approx((10.0, 990.0))
    with pytest.raises(ValueError):
        calibrate.make_observer("mean")

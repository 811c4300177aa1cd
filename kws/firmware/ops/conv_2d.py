"""CONV_2D: int8 input and output, int8 weights (per-channel or per-tensor, symmetric), int32
bias; any kernel size, stride, dilation and padding. C: firmware/runtime/kws_op_conv_2d.c."""

from __future__ import annotations

import numpy as np

from kws.firmware.graph import CodegenError
from kws.firmware.ops.common import (Emit, Kernel, activation_range, c_array, c_struct,
                                     padding, quantize_multiplier, shape4,
                                     simd_constants)


MAX_UNROLLED_K = 256  # longer receptive fields use the looped tile kernels


class ConvBase(Kernel):
    """What CONV_2D and DEPTHWISE_CONV_2D share: weights, requantization, padding, struct."""

    depthwise = False

    def check(self):
        x, w = self.weighted_inputs()
        if w.zero_point is not None and np.any(w.zero_point != 0):
            raise CodegenError(f"{self.where}: int8 weights must be symmetric (zero point 0)")
        _, self.ih, self.iw, self.ic = shape4(x)
        _, self.oh, self.ow, self.oc = shape4(self.out)
        self.x, self.w = x, w
        self.shape_check()
        o = self.op.options
        ws = np.asarray(w.scale, np.float64)
        if len(ws) not in (1, self.oc):
            raise CodegenError(f"{self.where}: {len(ws)} weight scales for {self.oc} output "
                               "channels (expected 1 or one per channel)")
        self.per_ch = len(ws) > 1
        self.mults, self.shifts = zip(*[quantize_multiplier(
            float(np.float64(x.s) * s / np.float64(self.out.s))) for s in ws])
        self.sh, self.sw = o.strideH, o.strideW
        self.dh, self.dw = (o.dilationHFactor or 1), (o.dilationWFactor or 1)
        self.ph = padding(o.padding, self.ih, self.oh, self.sh, self.kh, self.dh)
        self.pw = padding(o.padding, self.iw, self.ow, self.sw, self.kw, self.dw)
        self.lo, self.hi = activation_range(self.act, self.out.s, self.out.zp)
        bias = self.b.data if self.b is not None and self.b.data is not None else None
        self.beff, self.rq = simd_constants(w.data, bias, x.zp, self.mults, self.shifts,
                                            depthwise=self.depthwise)

    def fields(self, e: Emit, extra_w16: str = "0") -> dict:
        w = self.const(e, "int8_t", "w", self.w.data, weights=True)
        bias = "0"
        if self.b is not None and self.b.data is not None:
            bias = self.const(e, "int32_t", "b", self.b.data.astype(np.int64), weights=True)
        m = self.const(e, "int32_t", "m", np.array(self.mults))
        s = self.const(e, "int32_t", "s", np.array(self.shifts))
        be = self.const(e, "int32_t", "be", self.beff)
        rq = self.const(e, "int32_t", "rq", self.rq, weights=True) if self.rq is not None else "0"
        return {"in_h": self.ih, "in_w": self.iw, "in_c": self.ic, "out_h": self.oh,
                "out_w": self.ow, "out_c": self.oc, "k_h": self.kh, "k_w": self.kw,
                "stride_h": self.sh, "stride_w": self.sw, "dil_h": self.dh, "dil_w": self.dw,
                "pad_h": self.ph, "pad_w": self.pw, "depth_multiplier": self.dm,
                "in_offset": -self.x.zp, "out_offset": self.out.zp, "act_min": self.lo,
                "act_max": self.hi, "weights": w, "bias": bias, "mult": m, "shift": s,
                "per_channel": int(self.per_ch), "bias_eff": be, "rq": rq, "w16": extra_w16}


class Conv2D(ConvBase):
    header = "kws_op_conv_2d.h"

    def shape_check(self):
        oc, self.kh, self.kw, wic = self.w.shape
        if wic != self.ic:
            raise CodegenError(f"{self.where}: grouped convolution ({self.ic} input channels, "
                               f"filter depth {wic}) is not supported")
        self.dm = 1
        self.macs = self.oh * self.ow * self.oc * self.kh * self.kw * self.ic
        kk = self.kh * self.kw * self.ic
        self.scratch = 9 * kk  # KWS_CONV_SCRATCH (k % 4 == 0 on the SIMD path)
        o = self.op.options
        ph = padding(o.padding, self.ih, self.oh, o.strideH, self.kh, o.dilationHFactor or 1)
        pw = padding(o.padding, self.iw, self.ow, o.strideW, self.kw, o.dilationWFactor or 1)
        if self.ic == 1 and (o.dilationWFactor or 1) == 1 and (ph or pw):  # KWS_CONV_PADDED
            self.scratch += (((self.oh - 1) * o.strideH + (self.kh - 1) * (o.dilationHFactor or 1)
                              + 1) * ((self.ow - 1) * o.strideW + self.kw))

    def in_place(self) -> bool:
        """1x1 at stride 1 without padding, out_c <= in_c: every path reads a pixel (the SIMD
        ones three or two) into scratch before writing its outputs, which never run ahead of
        the inputs still to be read."""
        return ((self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)
                and (self.oh, self.ow) == (self.ih, self.iw) and self.oc <= self.ic)

    def emit(self, e: Emit) -> None:
        kk = self.kh * self.kw * self.ic
        w16_name, tbl_name, mm3_kernel = "0", "0", "0"
        rq = self.rq
        if kk % 8 == 0 and self.oc % 2 == 0 and rq is not None and np.all(rq[:, 1] <= 22):
            # the 2-channel x 3-pixel SIMD tile's weights (DSP builds only), doubled and widened
            # to int16 in SXTB16 pair order: per channel pair and 4 inputs,
            # (a0, a2), (b0, b2), (a1, a3), (b1, b3); and per pair its requantization table
            # {2 be[a], 2 be[b], m[a], m[b], r[a] + (zp << e[a]), r[b] + (zp << e[b]), e[a], e[b]}
            wr = 2 * np.asarray(self.w.data, np.int64).reshape(self.oc // 2, 2, kk // 4, 4)
            w16 = np.stack([wr[:, 0, :, 0], wr[:, 0, :, 2], wr[:, 1, :, 0], wr[:, 1, :, 2],
                            wr[:, 0, :, 1], wr[:, 0, :, 3], wr[:, 1, :, 1], wr[:, 1, :, 3]],
                           axis=-1)
            be = 2 * np.asarray(self.beff, np.int64).reshape(-1, 2)
            m, e_, r = (rq[:, i].reshape(-1, 2) for i in range(3))
            tbl = np.concatenate([be, m, r + (self.out.zp << e_), e_], axis=1)
            t = e.tag
            e.consts.append("#if KWS_USE_DSP\n" + c_array("int16_t", f"{t}_w16", w16)
                            + c_array("int32_t", f"{t}_t3", tbl)
                            + f"#define {t}_W16 {t}_w16\n#define {t}_T3 {t}_t3\n#else\n"
                            f"#define {t}_W16 0\n#define {t}_T3 0\n#endif\n")
            w16_name, tbl_name = f"{t}_W16", f"{t}_T3"
            if kk <= MAX_UNROLLED_K:  # the tile kernel unrolled for this k (once per k)
                fn = f"kws_mm3_u{kk}"
                steps = ", ".join(str(i) for i in range(kk // 4))
                unrolled = (f"void {fn}(const uint32_t *col, const int16_t *w16, int8_t *out, "
                            "const void *args);\n")
                if fn not in e.once:
                    e.once.add(fn)
                    unrolled += f'KWS_MM3_UNROLLED("{fn}", "{steps}", "{4 * kk}");\n'
                e.consts.append("#if defined(__ARM_FEATURE_DSP) && !defined(KWS_PORTABLE)\n"
                                + unrolled + f"#define {t}_MM3 {fn}\n#else\n"
                                f"#define {t}_MM3 0\n#endif\n")
                mm3_kernel = f"{t}_MM3"
        e.decls.append(c_struct("kws_conv_t", e.tag, {**self.fields(e, w16_name),
                                                      "mm3": tbl_name,
                                                      "mm3_kernel": mm3_kernel}))
        e.calls.append(f"kws_conv2d_s8(&{e.tag}, {e.ptr(self.op.inputs[0])}, "
                       f"{e.ptr(self.op.outputs[0])}, {e.scratch});")


OPS = {"CONV_2D": Conv2D}

"""The C post-processing (firmware/runtime/kws_postprocess.c, micro_speech's RecognizeCommands)
against a Python statement of the same rules, on a made-up stream of network outputs: a word
that rises above the threshold, is held (suppressed), then another word, then silence."""

import numpy as np
import pytest

from kws.firmware import host
from kws.firmware.codegen import Generated, generate_settings
from kws.firmware.toolchain import build_host

STRIDE_MS = 20
PP = {"period_ms": STRIDE_MS, "average_window_ms": 300, "detection_threshold": 0.6,
      "suppression_ms": 400, "minimum_count": 3}
SCALE, ZP = 0.1, -5


def reference(logits: np.ndarray):
    """(time, label, score, is_new) per result: softmax of dequantized logits, mean over the
    results no older than the window, top label, a new detection above the threshold unless
    it repeats the previous one within the suppression time."""
    out, hist, prev, prev_t = [], [], -1, -10**9
    for i, q in enumerate(logits):
        t = i * STRIDE_MS
        z = (q.astype(np.float64) - ZP) * SCALE
        p = np.exp(z - z.max())
        hist.append((t, p / p.sum()))
        window = [pp for tt, pp in hist if t - tt <= PP["average_window_ms"]]
        if len(window) < PP["minimum_count"]:
            out.append((t, -1, 0.0, 0))
            continue
        avg = np.mean(window, axis=0)
        top = int(np.argmax(avg))
        new = int(avg[top] > PP["detection_threshold"] and (top != prev or t - prev_t > PP["suppression_ms"]))
        if new:
            prev, prev_t = top, t
        out.append((t, top, float(avg[top]), new))
    return out


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    out = tmp_path_factory.mktemp("post")
    gen = Generated({}, 4, 4, 8, 0, 0, [], 0.5, 0, SCALE, ZP, (1, 49, 10, 1), 4)
    for name, text in generate_settings(gen, None, ["_silence_", "_unknown_", "yes", "no"],
                                        PP).items():
        (out / name).write_text(text)
    (out / "model.h").write_text(
        "#include <stdint.h>\n#define KWS_MODEL_INPUT_SIZE 490\n#define KWS_MODEL_OUTPUT_SIZE 4\n"
        "int8_t *kws_model_input(void);\nconst int8_t *kws_model_output(void);\n"
        "void kws_model_invoke(void);\n")
    (out / "model.c").write_text(
        '#include "model.h"\nstatic int8_t a[490];\nint8_t *kws_model_input(void) { return a; }\n'
        "const int8_t *kws_model_output(void) { return a; }\nvoid kws_model_invoke(void) {}\n")
    return build_host(out, out / "kws_host", sanitize=True)


def test_recognize_commands_matches_reference(binary):
    rng = np.random.default_rng(0)
    seq = []
    for label, n in ((0, 10), (2, 40), (0, 5), (3, 15), (1, 10), (0, 10)):
        for _ in range(n):
            q = rng.integers(-20, 0, 4)
            q[label] = 40 + rng.integers(-5, 5)
            seq.append(q)
    logits = np.array(seq, np.int8)
    res = host._run(binary, "post", logits.tobytes()).decode().split("\n")
    got = [tuple(float(v) for v in line.split()) for line in res if line.strip()]
    ref = reference(logits)
    assert len(got) == len(ref)
    for (t, lab, score, new), (rt, rlab, rscore, rnew) in zip(got, ref):
        assert (int(t), int(lab), int(new)) == (rt, rlab, rnew)
        assert score == pytest.approx(rscore, abs=1e-5)
    news = [(int(t), int(lab)) for t, lab, _, new in got if new]
    assert [lab for _, lab in news][:2] == [0, 2] and 3 in [lab for _, lab in news]

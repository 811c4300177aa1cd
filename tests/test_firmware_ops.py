"""The model zoo: one or more tiny int8 TFLite models per op of the engine's op table
(kws.firmware.ops.TABLE), converted here with TF's TFLiteConverter from tf.function graphs
with random weights (several shapes, strides, paddings, activations, per-tensor and
per-channel quantization, float ends), each run on the host build under AddressSanitizer and
UBSan and checked bit for bit against TFLM's reference kernels (tflite-micro's Python
interpreter). Ops with a DSP path also run with the SIMD kernels on C models of the DSP
instructions, and a few models run as Cortex-M4 builds in the emulator."""

import os
import zlib
from pathlib import Path

import numpy as np
import pytest

from kws.firmware import host
from kws.firmware.codegen import CodegenError, generate_model, write_sources
from kws.firmware.graph import read_tflite
from kws.firmware.ops import TABLE
from kws.firmware.referee import random_inputs, reference_outputs, tflm_outputs
from kws.firmware.toolchain import build_host, build_m4
from session_files import made_once, shared_dir

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _LazyTF:
    """tensorflow, imported when a model is first built (not at collection)."""

    def __getattr__(self, name):
        import tensorflow

        return getattr(tensorflow, name)


tf = _LazyTF()


def _w(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _conv(x, rng, cin, cout, k, stride=(1, 1), pad="SAME", dil=(1, 1), act="relu"):
    y = tf.nn.conv2d(x, _w(rng, k[0], k[1], cin, cout), [1, *stride, 1], pad, dilations=dil)
    y = y + _w(rng, cout, scale=0.1)
    return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, None: lambda v: v}[act](y)


def _dw(x, rng, cin, dm, k, stride=(1, 1), pad="SAME", act="relu"):
    y = tf.nn.depthwise_conv2d(x, _w(rng, k[0], k[1], cin, dm), [1, *stride, 1], pad)
    y = y + _w(rng, cin * dm, scale=0.1)
    return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, None: lambda v: v}[act](y)


def _dense(x, rng, n_in, n_out):
    return tf.matmul(x, _w(rng, n_in, n_out)) + _w(rng, n_out, scale=0.1)


_LAYERS = {}


def _fc_rank3(x, r):
    """A Keras Dense on a rank-3 input (FULLY_CONNECTED with keep_num_dims), made once."""
    if "dense" not in _LAYERS:
        _LAYERS["dense"] = tf.keras.layers.Dense(
            5, kernel_initializer=tf.constant_initializer(_w(r, 12, 5)))
    return _LAYERS["dense"](x)


# case -> (input shape without batch, graph builder(x, rng), converter options)
CASES = {
        "conv_same_stride2x1_relu": ((11, 7, 3), lambda x, r: _conv(x, r, 3, 6, (3, 3), (2, 1)), {}),
        "conv_valid_dilated_relu6_per_tensor": (
            (12, 9, 4), lambda x, r: _conv(x, r, 4, 5, (3, 2), pad="VALID", dil=(2, 1),
                                           act="relu6"), {"per_tensor": True}),
        "conv_1x1_k16": ((7, 5, 16), lambda x, r: _conv(x, r, 16, 8, (1, 1), act=None), {}),
        "conv_first_layer": ((20, 10, 1), lambda x, r: _conv(x, r, 1, 8, (10, 4), (2, 2)), {}),
        "depthwise_3x3_s1": ((13, 6, 8), lambda x, r: _dw(x, r, 8, 1, (3, 3)), {}),
        "depthwise_3x3_valid_relu6": ((9, 7, 12), lambda x, r: _dw(x, r, 12, 1, (3, 3),
                                                                   pad="VALID", act="relu6"), {}),
        "depthwise_dm2_stride2_per_tensor": (
            (9, 8, 3), lambda x, r: _dw(x, r, 3, 2, (3, 3), (2, 2)), {"per_tensor": True}),
        "depthwise_5x3_s1x2": ((10, 9, 5), lambda x, r: _dw(x, r, 5, 1, (5, 3), (1, 2)), {}),
        "fully_connected": ((24,), lambda x, r: _dense(x, r, 24, 7), {}),
        "fully_connected_rank3": ((4, 12), _fc_rank3, {}),
        "fully_connected_relu_per_tensor": (
            (30,), lambda x, r: tf.nn.relu(_dense(x, r, 30, 9)), {"per_tensor": True}),
        "avg_pool_same_s2": ((9, 7, 5), lambda x, r: tf.nn.avg_pool2d(x, 3, 2, "SAME"), {}),
        "avg_pool_8ch_global": ((6, 5, 8), lambda x, r: tf.nn.avg_pool2d(x, (6, 5), 1, "VALID"), {}),
        "max_pool_valid": ((9, 7, 5), lambda x, r: tf.nn.max_pool2d(x, (2, 3), (2, 1), "VALID"), {}),
        "reshape_flatten": ((6, 5, 4), lambda x, r: _dense(tf.reshape(
            _conv(x, r, 4, 4, (3, 3)), [1, 120]), r, 120, 6), {}),
        "flatten_dynamic_batch": ((4, 3, 2), lambda x, r: tf.nn.softmax(tf.reshape(
            x * 2.0, [tf.shape(x)[0], -1])), {"dynamic_batch": True}),
        "squeeze_expand": ((1, 6, 8), lambda x, r: tf.expand_dims(
            _dense(tf.squeeze(x, axis=1), r, 8, 5), axis=1), {}),
        "squeeze": ((1, 6, 8), lambda x, r: tf.nn.softmax(tf.reshape(x, [1, 6, 8])),
                    {"patch": "squeeze"}),
        "expand_dims": ((6, 8), lambda x, r: tf.nn.softmax(tf.reshape(x, [1, 1, 6, 8])),
                        {"patch": "expand_dims"}),
        "requantize": ((5, 6), lambda x, r: tf.nn.relu(x + 0.3), {"patch": "quantize"}),
        "relu6": ((5, 4, 3), lambda x, r: tf.reduce_mean(tf.nn.relu6(x), [1]), {}),
        "softmax": ((16,), lambda x, r: tf.nn.softmax(_dense(x, r, 16, 10)), {}),
        "softmax_rows": ((3, 8), lambda x, r: tf.nn.softmax(x * 3.0), {}),
        "logistic": ((5, 7), lambda x, r: tf.sigmoid(x * 2.0 + 0.5), {}),
        "sub": ((5, 6), lambda x, r: tf.nn.relu(x) - _w(r, 6), {}),
        "float_ends": ((8, 6, 2), lambda x, r: tf.nn.softmax(tf.reshape(
            _conv(x, r, 2, 3, (3, 3), (2, 2)), [1, 36])), {"float_io": True}),
        "mean_hw_keepdims": ((7, 5, 6), lambda x, r: tf.reduce_mean(
            _conv(x, r, 6, 6, (3, 3)), [1, 2], keepdims=True), {}),
        "mean_last_axis": ((4, 9), lambda x, r: tf.reduce_mean(x * 1.5, [-1]), {}),
        "mean_same_scale": ((7, 5, 6), lambda x, r: _dense(tf.reduce_mean(
            tf.nn.relu(x), [1, 2]), r, 6, 4), {"patch": "mean_same_scale"}),
        "pad": ((5, 4, 3), lambda x, r: _conv(tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]]),
                                              r, 3, 4, (3, 3), pad="VALID"), {}),
        "pad_v2": ((5, 4, 3), lambda x, r: tf.pad(x, [[0, 0], [2, 0], [1, 1], [0, 2]],
                                                  constant_values=1.0), {}),
        "concat_channels": ((6, 5, 3), lambda x, r: tf.concat(
            [_conv(x, r, 3, 4, (3, 3)), _conv(x, r, 3, 2, (1, 1))], axis=-1), {}),
        "concat_rows_relu6": ((4, 6), lambda x, r: tf.concat([x, tf.nn.relu6(x * 3.0)], axis=1), {}),
        "relu": ((5, 6), lambda x, r: tf.nn.relu(x + 0.3), {}),
        "mul": ((6, 5, 4), lambda x, r: _conv(x, r, 4, 4, (1, 1)) * _conv(x, r, 4, 4, (3, 3)), {}),
        "mul_broadcast_const": ((6, 5, 4), lambda x, r: x * _w(r, 4, scale=1.0), {}),
        "add_residual": ((6, 5, 4), lambda x, r: tf.nn.relu(x + _conv(x, r, 4, 4, (3, 3))), {}),
        "add_broadcast": ((6, 5, 4), lambda x, r: x + tf.reduce_mean(x, [1], keepdims=True), {}),
}
DSP_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"}


def _convert(name: str) -> bytes:
    shape, build, opts = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    batch = None if opts.get("dynamic_batch") else 1
    f = tf.function(lambda x: build(x, rng), input_signature=[tf.TensorSpec([batch, *shape])])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    data = np.random.default_rng(1)

    def rep():
        for _ in range(24):
            yield [data.standard_normal((1, *shape)).astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not opts.get("float_io"):
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if opts.get("per_tensor"):
        conv._experimental_disable_per_channel = True
    else:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = False
    model = conv.convert()
    return _patch(model, opts["patch"]) if "patch" in opts else model


def _patch(model: bytes, what: str) -> bytes:
    """Ops the converter folds away, made by editing the converted flatbuffer: RESHAPE ->
    SQUEEZE or EXPAND_DIMS, ADD -> QUANTIZE (int8 -> int8), MEAN's output quantization = its
    input's (TFLM's same-scale path)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    m = fb.ModelT.InitFromPackedBuf(bytearray(model), 0)
    sg = m.subgraphs[0]
    code_of = {i: max(c.builtinCode, c.deprecatedBuiltinCode) for i, c in enumerate(m.operatorCodes)}
    B = fb.BuiltinOperator

    def retype(op, builtin, options_type=0, options=None):
        c = fb.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, min(builtin, 127), 1
        m.operatorCodes.append(c)
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = options_type, options

    for op in sg.operators:
        code = code_of[op.opcodeIndex]
        if what == "squeeze" and code == B.RESHAPE:
            o = fb.SqueezeOptionsT()
            o.squeezeDims = [1]
            op.inputs = op.inputs[:1]
            retype(op, B.SQUEEZE, fb.BuiltinOptions.SqueezeOptions, o)
        elif what == "expand_dims" and code == B.RESHAPE:
            buf = fb.BufferT()
            buf.data = list(np.array([1], "<i4").tobytes())
            m.buffers.append(buf)
            t = fb.TensorT()
            t.shape, t.type, t.buffer, t.name = [1], fb.TensorType.INT32, len(m.buffers) - 1, b"axis"
            sg.tensors.append(t)
            op.inputs = [op.inputs[0], len(sg.tensors) - 1]
            retype(op, B.EXPAND_DIMS, fb.BuiltinOptions.ExpandDimsOptions, fb.ExpandDimsOptionsT())
        elif what == "quantize" and code == B.ADD:
            op.inputs = op.inputs[:1]
            retype(op, B.QUANTIZE, fb.BuiltinOptions.QuantizeOptions, fb.QuantizeOptionsT())
        elif what == "mean_same_scale" and code == B.MEAN:
            sg.tensors[op.outputs[0]].quantization = sg.tensors[op.inputs[0]].quantization
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    return shared_dir(tmp_path_factory, "kws-firmware-zoo")


def zoo_model(zoo_dir, name) -> bytes:
    """The case's .tflite, converted once per session (shared by the xdist workers)."""
    return made_once(zoo_dir / f"{name}.tflite", lambda p: p.write_bytes(_convert(name)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_zoo_model_bit_exact_with_tflm(zoo_dir, tmp_path, name):
    model = zoo_model(zoo_dir, name)
    ops = {op.name for op in read_tflite(model).ops}
    gen = write_sources(model, tmp_path / "src", None, None, strict=False)
    x = random_inputs(model, 24, seed=2, scale=1.5)
    ref, who = reference_outputs(model, x)  # TFLM; LiteRT only where TFLM cannot load it
    assert who == "TFLM" or name == "flatten_dynamic_batch", who
    builds = [[]] + ([["-DKWS_FORCE_DSP"]] if ops & DSP_OPS else [])
    for flags in builds:
        binary = build_host(tmp_path / "src", tmp_path / f"host{len(flags)}", sanitize=True,
                            extra_flags=flags)
        got = host.network(binary, x, gen.output_size, x.dtype, ref.dtype)
        assert np.array_equal(got, ref), \
            f"{name} {sorted(ops)} {flags}: {int((got != ref).sum())} of {ref.size} outputs " \
            f"differ from {who}"


def test_shape_only_ops_of_a_dynamic_batch_flatten_drop_out(zoo_dir):
    """SHAPE -> STRIDED_SLICE -> PACK only feed RESHAPE's shape argument: no kernels needed."""
    from ai_edge_litert import schema_py_generated as fb

    model = zoo_model(zoo_dir, "flatten_dynamic_batch")
    m = fb.ModelT.InitFromPackedBuf(bytearray(model), 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    in_file = {names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in m.operatorCodes}
    assert "SHAPE" in in_file
    assert [op.name for op in read_tflite(model).ops] == ["MUL", "RESHAPE", "SOFTMAX"]


def test_every_op_in_the_table_has_zoo_models(zoo_dir):
    seen = set()
    for name in CASES:
        seen |= {op.name for op in read_tflite(zoo_model(zoo_dir, name)).ops}
    assert set(TABLE) <= seen, f"ops without a zoo model: {sorted(set(TABLE) - seen)}"


@pytest.mark.parametrize("name", ["softmax", "float_ends", "mean_hw_keepdims",
                                  "depthwise_dm2_stride2_per_tensor", "concat_channels"])
def test_zoo_model_on_the_cortex_m4_in_the_emulator(zoo_dir, tmp_path, name):
    from kws.firmware.emulator import Harness

    model = zoo_model(zoo_dir, name)
    write_sources(model, tmp_path / "src", None, None, strict=False)
    x = random_inputs(model, 2, seed=3, scale=1.5)
    ref = tflm_outputs(model, x)
    h = Harness(build_m4(tmp_path / "src", tmp_path / "m4.elf"))
    for i in range(len(x)):
        job = h.run_features(x[i])
        assert np.array_equal(job.logits, ref[i]), (name, i)
        assert job.cycles["network"] > 0


def test_an_op_outside_the_table_is_a_clear_error(zoo_dir):
    f = tf.function(lambda x: tf.tanh(x), input_signature=[tf.TensorSpec([1, 8])])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.ones((1, 8), np.float32) * i] for i in range(4))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    with pytest.raises(CodegenError, match=r"no kernel for TANH \(it runs .*SOFTMAX.*\): "):
        generate_model(conv.convert())


def test_non_int8_model_is_a_clear_error(zoo_dir):
    f = tf.function(lambda x: tf.nn.relu(x), input_signature=[tf.TensorSpec([1, 8])])
    model = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()],
                                                            f).convert()
    with pytest.raises(CodegenError, match="full-int8|float32"):
        generate_model(model)


def test_kws_firmware_command_on_a_model_no_stage_made(zoo_dir, tmp_path):
    """`kws firmware MODEL.tflite` end to end on a converter-made model with float ends and a
    SOFTMAX, with the user's own (float) inputs; a bad file is one line and exit status 2."""
    import subprocess
    import sys

    path = tmp_path / "float_ends.tflite"
    path.write_bytes(zoo_model(zoo_dir, "float_ends"))
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((3, 8, 6, 2)))
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    res = subprocess.run([sys.executable, "-m", "kws.cli", "firmware", str(path), "--inputs",
                          str(tmp_path / "x.npy"), "--random", "8", "--emulate", "1", "--out",
                          str(tmp_path / "out"), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "given inputs: 3/3" in res.stdout and "random inputs: 8/8" in res.stdout
    assert "Cortex-M4 build in the emulator: 1/1" in res.stdout
    for op in ("QUANTIZE", "CONV_2D", "SOFTMAX", "DEQUANTIZE"):
        assert op in res.stdout
    import json

    r = json.loads((tmp_path / "r.json").read_text())
    assert r["flash_bytes"] > 0 and r["network_cycles"] == pytest.approx(
        sum(o["cycles"] for o in r["op_table"]), rel=0.02)
    (tmp_path / "bad.tflite").write_bytes(b"not a model")
    res = subprocess.run([sys.executable, "-m", "kws.cli", "firmware", "bad.tflite"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "not a valid .tflite" in res.stderr

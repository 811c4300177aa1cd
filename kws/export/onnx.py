"""torch -> ONNX, checked against onnxruntime.

The graph is exported with the TorchScript exporter (``dynamo=False``), opset 13, batch 1 and
the model's own NCHW input ``[1, 1, frames, coeffs]``: onnx2tf turns that into an NHWC input
``[1, frames, coeffs, 1]``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from kws.errors import KwsError

INPUT_NAME = "mfcc"
OUTPUT_NAME = "logits"


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, int], path: str | Path,
                opset: int = 13, check_inputs: np.ndarray | None = None,
                atol: float = 1e-4) -> dict:
    """Write ``model`` (eval mode, CPU) as ONNX to ``path``; return the onnxruntime check.

    ``check_inputs`` (``[n, 1, frames, coeffs]`` float32) are run through torch and
    onnxruntime; a difference above ``atol`` (relative to the logits' range) is an error.
    """
    import onnx
    import onnxruntime as ort

    model = model.eval().cpu()
    frames, coeffs = input_shape
    dummy = torch.zeros(1, 1, frames, coeffs)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # "Constant folding - Only steps=1 ...": the Slice in F.pad's pads subgraph; we fold it.
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(model, (dummy,), buf, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          do_constant_folding=True)
    proto = fold_constants(onnx.load_from_string(buf.getvalue()))
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

    if check_inputs is None:
        check_inputs = np.random.default_rng(0).standard_normal((8, 1, frames, coeffs))
    x = np.asarray(check_inputs, dtype=np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    ort_out = np.concatenate([sess.run(None, {INPUT_NAME: x[i:i + 1]})[0] for i in range(len(x))])
    with torch.no_grad():
        torch_out = model(torch.from_numpy(x)).numpy()
    max_diff = float(np.abs(ort_out - torch_out).max())
    scale = max(1.0, float(np.abs(torch_out).max()))
    if max_diff > atol * scale:
        raise KwsError(f"ONNX export differs from torch by {max_diff:.3g} (> {atol * scale:.3g}): "
                       "the model uses an op the exporter gets wrong")
    return {"onnx_max_abs_diff": max_diff,
            "onnx_ops": sorted({n.op_type for n in proto.graph.node})}


def fold_constants(proto):
    """Evaluate every node whose inputs are all constants and store its outputs as initializers.

    torch exports ``F.pad`` as a small int64 subgraph (ConstantOfShape, Concat, Slice,
    Transpose, Reshape, Cast) that computes the pads at run time; onnx2tf converts that
    subgraph with an NCHW->NHWC permutation it should not apply and the pads come out wrong.
    Folded, the Pad has constant pads that onnx2tf handles (and merges into the conv).
    onnx-simplifier would do the same; it is not installed (onnx2tf is installed --no-deps).
    """
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = proto.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    keep = []
    folded = {}
    for node in graph.node:
        inputs = [i for i in node.input if i]
        if node.op_type != "Constant" and not (inputs and all(i in consts for i in inputs)):
            keep.append(node)
            continue
        feeds = {i: consts[i] for i in inputs}
        outs = ReferenceEvaluator(node).run(None, feeds)
        for name, value in zip(node.output, outs):
            consts[name] = np.asarray(value)
            folded[name] = consts[name]
    if not folded:
        return proto
    used = {i for n in keep for i in n.input} | {o.name for o in graph.output}
    inits = [init for init in graph.initializer if init.name in used]
    inits += [numpy_helper.from_array(v, name) for name, v in folded.items() if name in used]
    new_graph = helper.make_graph(keep, graph.name, list(graph.input), list(graph.output),
                                  inits)
    model = helper.make_model(new_graph, opset_imports=list(proto.opset_import),
                              producer_name=proto.producer_name,
                              producer_version=proto.producer_version)
    model.ir_version = proto.ir_version
    return onnx.shape_inference.infer_shapes(model)

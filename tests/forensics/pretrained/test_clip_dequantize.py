"""The float32 rewrite of dynamically quantised matrix products, on a graph quantised by ONNX Runtime."""
import numpy as np
import pytest


def _float_and_quantised(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(16, 32)).astype(np.float32)
    w2 = rng.normal(size=(32, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "two_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 8])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "float.onnx")
    quantize_dynamic(str(tmp_path / "float.onnx"), str(tmp_path / "int8.onnx"), weight_type=QuantType.QUInt8)
    return onnx.load(tmp_path / "int8.onnx"), (w1, w2)


def _run(model, x):
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_rewrite_computes_the_dequantised_weights_in_float(tmp_path):
    from forensics.pretrained.clip_dequantize import dequantize_graph

    model, (w1, w2) = _float_and_quantised(tmp_path)
    assert sum(n.op_type == "MatMulInteger" for n in model.graph.node) == 2
    x = np.random.default_rng(1).normal(size=(5, 16)).astype(np.float32) * 0.01
    x[0] *= 1000  # one large row sets the INT8 range of the whole batch
    int8 = _run(model, x)
    assert dequantize_graph(model) == 2
    ops = [n.op_type for n in model.graph.node]
    assert "MatMulInteger" not in ops and "DynamicQuantizeLinear" not in ops
    assert all(i.data_type == 1 for i in model.graph.initializer)  # the INT8 weights are gone
    rewritten = _run(model, x)
    exact = np.maximum(x @ w1, 0) @ w2
    # the small rows, lost in the batch's INT8 range, come back; weights keep their 8-bit rounding only
    small = slice(1, None)
    assert np.abs(rewritten[small] - exact[small]).max() < 0.05 * np.abs(exact[small]).max()
    assert np.abs(int8[small] - exact[small]).max() > 5 * np.abs(rewritten[small] - exact[small]).max()
    # and each row is computed on its own
    np.testing.assert_allclose(_run(model, x[1:2]), rewritten[1:2], rtol=1e-5, atol=1e-6)


def test_rewrite_refuses_a_graph_it_does_not_understand(tmp_path):
    from forensics.pretrained.clip_dequantize import dequantize_graph

    model, _ = _float_and_quantised(tmp_path)
    cast = next(n for n in model.graph.node if n.op_type == "Cast")
    cast.op_type = "Identity"
    del cast.attribute[:]
    with pytest.raises(ValueError, match="unexpected quantised graph"):
        dequantize_graph(model)

"""A float32 rewrite of the dynamically quantised CLIP graph.

The published encoder is INT8 with dynamic quantisation: each of its 73 matrix products quantises the
incoming activations to 8 bits with one range per tensor (`DynamicQuantizeLinear -> MatMulInteger ->
Cast -> Mul(scale)`). That erases the small local differences a forensic probe reads: at block 4 the
INT8 token states sit at cosine 0.00-0.11 to those of the float rewrite, and a probe on blocks 4-6 of
the float graph ranks unseen generators better (leave-family-out mean AP 0.819 against 0.735,
reports/fused/selection.md). The rewrite keeps the INT8 weights exactly, as float32 values
((W - zero point) * weight scale), and computes each product in float: no new weights, no download.
"""
from __future__ import annotations

from typing import Any

import numpy as np

PRECISIONS = ("int8", "float32")


def _producers_and_consumers(graph: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producer, consumers


def _single_consumer(consumers: dict[str, list[Any]], name: str, op_type: str) -> Any:
    users = consumers.get(name, [])
    if len(users) != 1 or users[0].op_type != op_type:
        found = ", ".join(u.op_type for u in users) or "nothing"
        raise ValueError(f"unexpected quantised graph: {name} feeds {found}, expected one {op_type}")
    return users[0]


def dequantize_graph(model: Any) -> int:
    """Rewrite every `DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale)` chain of an ONNX
    model (in place) into one float `MatMul` with the dequantised weight; returns the number rewritten.
    Raises ValueError when a MatMulInteger is not part of such a chain."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producer, consumers = _producers_and_consumers(graph)
    replacement: dict[int, Any] = {}
    dropped: set[int] = set()
    new_weights = []
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        a_q, b_q = node.input[0], node.input[1]
        b_zp = node.input[3] if len(node.input) > 3 else ""
        quantise = producer.get(a_q)
        if quantise is None or quantise.op_type != "DynamicQuantizeLinear" or b_q not in inits:
            raise ValueError(f"unexpected quantised graph at {node.name}: activations not dynamically quantised "
                             f"or weights not constant")
        cast = _single_consumer(consumers, node.output[0], "Cast")
        rescale = _single_consumer(consumers, cast.output[0], "Mul")
        scale_name = next(i for i in rescale.input if i != cast.output[0])
        scale_node = producer.get(scale_name)
        weight_scales = [i for i in (scale_node.input if scale_node is not None else ()) if i in inits]
        if len(weight_scales) != 1:
            raise ValueError(f"unexpected quantised graph at {node.name}: no constant weight scale")
        weight = numpy_helper.to_array(inits[b_q]).astype(np.float32)
        zero = numpy_helper.to_array(inits[b_zp]).astype(np.float32) if b_zp in inits else np.float32(0)
        scale = numpy_helper.to_array(inits[weight_scales[0]]).astype(np.float32)
        name = f"{b_q}_float32"
        new_weights.append(numpy_helper.from_array(((weight - zero) * scale).astype(np.float32), name))
        replacement[id(rescale)] = helper.make_node("MatMul", [quantise.input[0], name], [rescale.output[0]],
                                                    name=f"{node.name or rescale.output[0]}_float32")
        dropped.update((id(node), id(cast)))
    nodes = [replacement.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_weights)
    _drop_unused(graph)
    return len(replacement)


def _drop_unused(graph: Any) -> None:
    """Remove nodes whose outputs nobody reads (the orphaned quantisers and scale products) and the
    initialisers no node reads (the INT8 weights), repeating until nothing changes."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        keep = [n for n in graph.node if any(o in used for o in n.output)]
        if len(keep) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(keep)
    used = {name for node in graph.node for name in node.input} | outputs
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)

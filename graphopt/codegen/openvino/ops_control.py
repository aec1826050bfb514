"""Control flow: ONNX If and Loop as OpenVINO If and Loop, their bodies built as models of their own. (Scan
has no converter yet: it is refused with the other unsupported ops.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node


@converter("If")
def if_(b: Lowering, node: Node, x: list[Any]) -> Any:
    op = ov_ops.if_op(ov_ops.reshape(x[0], b.i64([]), False).output(0))
    then_model, then_results, _, then_params = b.body(node.attr("then_branch"))
    else_model, else_results, _, else_params = b.body(node.attr("else_branch"))
    op.set_then_body(then_model)
    op.set_else_body(else_model)
    for v in dict.fromkeys([*then_params, *else_params]):
        op.set_input(b.value(v), then_params.get(v), else_params.get(v))
    return [op.set_output(t, e) for t, e in zip(then_results, else_results)]


@converter("Loop")
def loop(b: Lowering, node: Node, x: list[Any]) -> Any:
    """Body inputs (iteration, condition, carried…), outputs (condition, carried…, scan outputs…); scan
    outputs are stacked along a new first axis, as OpenVINO's concatenated slices of unsqueezed values."""
    x = x + [None] * (2 - len(x))
    trip = ov_ops.reshape(x[0], b.i64([]), False).output(0) if x[0] is not None else b.i64(-1)
    condition = ov_ops.reshape(x[1], b.i64([]), False).output(0) if x[1] is not None else b.const(True, np.bool_)
    body = node.attr("body")
    carried = len(x) - 2
    model, results, inputs, outer = b.body(body)
    for i in range(1 + carried, len(results)):  # scan outputs: one slice per iteration along a new axis
        value = results[i].input_value(0)
        results[i].input(0).replace_source_output(ov_ops.unsqueeze(value, b.i64([0])).output(0))
        model.validate_nodes_and_infer_types()
    op = ov_ops.loop(trip, condition)
    op.set_function(model)
    op.set_special_body_ports([0, 0])  # body input 0 is the iteration number, body output 0 the condition
    op.set_merged_input(inputs[1], condition, results[0].output(0))
    for param, initial, result in zip(inputs[2:], x[2:], results[1:1 + carried]):
        op.set_merged_input(param, initial, result.output(0))
    for v, param in outer.items():
        op.set_invariant_input(param, b.value(v))
    finals = [op.get_iter_value(r.output(0), -1) for r in results[1:1 + carried]]
    scans = [op.get_concatenated_slices(r.output(0), 0, 1, 1, -1, 0) for r in results[1 + carried:]]
    return finals + scans

"""Control flow: ONNX If, Loop and Scan as OpenVINO If, Loop and TensorIterator, their bodies built as models of
their own."""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino as ov
import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering, rank
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
    carried = len(x) - 2
    model, results, inputs, outer = b.body(node.attr("body"))
    for result in results[1 + carried:]:  # scan outputs: one slice per iteration along a new axis
        result.input(0).replace_source_output(ov_ops.unsqueeze(result.input_value(0), b.i64([0])).output(0))
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


@converter("Scan")
def scan(b: Lowering, node: Node, x: list[Any]) -> Any:
    """Body inputs (states…, one slice of each scan input), outputs (states…, one slice of each scan output).
    OpenVINO slices keep the scanned axis (size 1), so the body squeezes inputs and unsqueezes outputs."""
    n_scan = node.attr("num_scan_inputs")
    n_state = len(x) - n_scan
    in_axes = list(node.attr("scan_input_axes", None) or [0] * n_scan)
    in_dirs = list(node.attr("scan_input_directions", None) or [0] * n_scan)
    model, results, inputs, outer = b.body(node.attr("body"))
    params = list(inputs[:n_state])
    sliced = []
    for i, (param, value) in enumerate(zip(inputs[n_state:], x[n_state:])):
        axis = in_axes[i] % rank(value)
        shape = param.get_output_partial_shape(0)
        dims = [shape[d] for d in range(shape.rank.get_length())]
        slot = ov_ops.parameter(ov.PartialShape([*dims[:axis], ov.Dimension(1), *dims[axis:]]),
                                param.get_output_element_type(0))
        param.output(0).replace(ov_ops.squeeze(slot, b.i64([axis])).output(0))
        params.append(slot)
        sliced.append((slot, value, axis, in_dirs[i]))
    n_out = len(results) - n_state
    out_axes = list(node.attr("scan_output_axes", None) or [0] * n_out)
    out_dirs = list(node.attr("scan_output_directions", None) or [0] * n_out)
    placed = []
    for i, result in enumerate(results[n_state:]):
        axis = out_axes[i] % (rank(result.input_value(0)) + 1)
        result.input(0).replace_source_output(ov_ops.unsqueeze(result.input_value(0), b.i64([axis])).output(0))
        placed.append((result, axis, out_dirs[i]))
    body = ov.Model(results, params + list(outer.values()), model.get_friendly_name())
    op = ov_ops.tensor_iterator()
    op.set_body(body)
    for param, initial, result in zip(inputs[:n_state], x[:n_state], results[:n_state]):
        op.set_merged_input(param, initial, result.output(0))
    for slot, value, axis, reverse in sliced:
        op.set_sliced_input(slot, value, -1 if reverse else 0, -1 if reverse else 1, 1, 0 if reverse else -1, axis)
    for v, param in outer.items():
        op.set_invariant_input(param, b.value(v))
    finals = [op.get_iter_value(r.output(0), -1) for r in results[:n_state]]
    scans = [op.get_concatenated_slices(r.output(0), -1 if reverse else 0, -1 if reverse else 1, 1,
                                        0 if reverse else -1, axis) for r, axis, reverse in placed]
    return finals + scans

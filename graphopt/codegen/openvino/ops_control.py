"""Control flow: ONNX If as OpenVINO If, its branches built as models of their own. (Loop and Scan have no
converter yet: they are refused with the other unsupported ops.)"""

from __future__ import annotations

from typing import Any

import openvino.opset16 as ov_ops

from graphopt.codegen.openvino.emitter import Lowering
from graphopt.codegen.openvino.table import converter
from graphopt.ir.core import Node


@converter("If")
def if_(b: Lowering, node: Node, x: list[Any]) -> Any:
    op = ov_ops.if_op(ov_ops.reshape(x[0], b.i64([]), False).output(0))
    then_model, then_results, then_params = b.body(node.attr("then_branch"))
    else_model, else_results, else_params = b.body(node.attr("else_branch"))
    op.set_then_body(then_model)
    op.set_else_body(else_model)
    for v in dict.fromkeys([*then_params, *else_params]):
        op.set_input(b.value(v), then_params.get(v), else_params.get(v))
    return [op.set_output(t, e) for t, e in zip(then_results, else_results)]

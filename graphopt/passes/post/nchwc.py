"""NCHWc lowering for ONNX Runtime: convolutions and pools in MLAS's blocked layout, filters blocked at compile time.

At ORT_ENABLE_ALL, ONNX Runtime rewrites float convolutions into its ``com.microsoft.nchwc`` ops, which keep
activations in a channel-blocked layout (see :mod:`graphopt.ir.ops.nchwc`) and are 1.5-3x faster on small CNNs
than its NCHW Conv. This pass does that rewrite ahead of time, so the model is as fast with ONNX Runtime's
optimizer off; it runs only for ``target="onnxruntime"`` (named explicitly) and records the block size in the
model metadata (:data:`~graphopt.ir.ops.nchwc.BLOCK_SIZE_KEY`). The output is CPU-specific: it is correct only
where ONNX Runtime's NCHWc block size is the one it was made for (8 on AVX2, 16 on AVX-512 machines).

The block size is probed once per process from the installed ONNX Runtime (:func:`probe_block_size`), or given
as the ``block-size`` option. Walking the graph in order, a node moves to NCHWc when its input is already NCHWc
or can be reordered into it:

- Conv / ``graphopt::FusedConv`` (float32, constant 4-D filter, constant or no bias): group 1 (a plain NCHW
  input with fewer channels than the block is read directly, others are reordered, which needs a channel count
  that is a multiple of 4); depthwise (channels a multiple of 4); other grouped convs when the input and output
  channels per group are multiples of the block. The activations ONNX Runtime's NCHWc Conv runs are fused into
  it; other activations follow as element-wise ops on the blocked tensor;
- MaxPool / AveragePool (no Indices output, no dilation; a plain input needs channels a multiple of the block);
  GlobalMaxPool / GlobalAveragePool and Resize (integer spatial scales; nearest with asymmetric/floor, or linear
  with asymmetric, align_corners, half_pixel, or pytorch_half_pixel when no output dim is 1) on NCHWc inputs;
- Add (folded into a Conv that feeds it as the Conv's ``Sum`` input when that Conv has no other reader and no
  activation) and Mul of two NCHWc tensors of the same static shape; Concat over channels of NCHWc tensors
  whose channel counts are multiples of the block;
- Relu, Sigmoid, Tanh, LeakyRelu, HardSigmoid, HardSwish, Clip (constant bounds) on an NCHWc tensor: fused into
  the Conv that made it when that Conv has no other reader, else run on the blocked tensor.

Every other reader of a converted tensor (and a graph output) gets one ``ReorderOutput``. A node that does not
qualify stays in NCHW; ``debug`` logs why.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphopt.ir.core import Graph, Node, Provenance, Value
from graphopt.ir.dtypes import DType
from graphopt.ir.inference import infer_node
from graphopt.ir.ops.fused import ACTIVATIONS, expand_activation
from graphopt.ir.ops.nchwc import (
    BLOCK_SIZE_KEY,
    NCHWC_ACTIVATIONS,
    NCHWC_DOMAIN,
    filter_oihwbibo,
    filter_oihwbo,
    round_up,
)
from graphopt.ir.registry import GRAPHOPT_DOMAIN
from graphopt.passes.base import Pass, PassResult, register_pass

logger = logging.getLogger(__name__)

UNARY = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip")
"""Element-wise ops that run on a blocked tensor as they are: finite on the zero padding, one input."""
CHANNEL_ALIGNMENT = 4
"""ONNX Runtime's ReorderInput needs a channel count that is a multiple of this."""


@functools.cache
def probe_block_size() -> int | None:
    """ONNX Runtime's NCHWc block size on this CPU, or ``None`` when it has no NCHWc kernels (or no ORT).

    Optimizes a 1x1 Conv with 4 output channels offline at ORT_ENABLE_ALL and reads how far ONNX Runtime padded
    the output channels of the NCHWc filter it wrote."""
    try:
        import onnx
        import onnx.helper as oh
        import onnxruntime as ort
    except ImportError:
        return None
    graph = oh.make_graph(
        [oh.make_node("Conv", ["x", "w"], ["y"])], "nchwc_probe",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 2, 2])],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 2, 2])],
        [onnx.numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "probe.onnx")
        options.log_severity_level = 3
        try:
            ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
            optimized = onnx.load(options.optimized_model_filepath)
        except Exception as e:  # an ORT that cannot do this has no usable NCHWc path
            logger.info("nchwc: probing ONNX Runtime's block size failed: %s", e)
            return None
    dims = {t.name: list(t.dims) for t in optimized.graph.initializer}
    for node in optimized.graph.node:
        if node.domain == NCHWC_DOMAIN and node.op_type == "Conv" and node.input[1] in dims:
            return int(dims[node.input[1]][0])
    return None


@dataclass
class _Blocked:
    """The NCHWc form of an NCHW value: the blocked tensor and the real channel count."""

    value: Value
    channels: int


class _Converter:
    def __init__(self, graph: Graph, block: int) -> None:
        self.g = graph
        self.block = block
        self.blocked: dict[Value, _Blocked] = {}
        self.reordered: dict[Value, Value] = {}
        self.filters: dict[tuple[Value, bool], Value] = {}
        self.replaced: list[Node] = []
        self.refusals: list[str] = []
        self.node: Node | None = None  # the node being converted: new nodes go before it

    # -- building ---------------------------------------------------------------------------------------------
    def add(self, op: str, inputs: list[Value | None], attrs: dict[str, Any], domain: str = NCHWC_DOMAIN) -> Node:
        assert self.node is not None
        with self.g.inserting_before(self.node):
            made = self.g.add(op, inputs, attrs, domain=domain, name=self.node.name,
                              provenance=Provenance("nchwc", (self.node.label,)))
        self.infer(made)
        return made

    @staticmethod
    def infer(node: Node) -> None:
        for out, t in zip(node.outputs, infer_node(node)):
            if out is not None:
                out.type = t

    def emit(self, op: str, inputs: list[Any], attrs: dict[str, Any]) -> Value:
        return self.add(op, inputs, attrs, domain="").output

    def scalar(self, v: float) -> Value:
        return self.g.add_constant(np.asarray(v, np.float32))

    def to_blocked(self, x: Value, alignment: int = CHANNEL_ALIGNMENT) -> _Blocked | None:
        """``x`` in NCHWc: its existing blocked form, or a ReorderInput; ``None`` when its channel count is not a
        multiple of ``alignment``."""
        channels = _channels(x)
        if channels is None or channels % alignment:
            return None
        if x in self.blocked:
            return self.blocked[x]
        if x not in self.reordered:
            self.reordered[x] = self.add("ReorderInput", [x], {}).output
        return _Blocked(self.reordered[x], channels)

    def done(self, node: Node, result: _Blocked) -> None:
        self.blocked[node.outputs[0]] = result  # type: ignore[index]
        self.replaced.append(node)

    # -- the walk ---------------------------------------------------------------------------------------------
    def run(self) -> int:
        handlers = {"Conv": self.conv, f"{GRAPHOPT_DOMAIN}::FusedConv": self.conv, "MaxPool": self.pool,
                    "AveragePool": self.pool, "GlobalMaxPool": self.global_pool,
                    "GlobalAveragePool": self.global_pool, "Resize": self.resize, "Concat": self.concat,
                    "Add": self.binary, "Mul": self.binary, **{op: self.unary for op in UNARY}}
        for node in list(self.g):
            handler = handlers.get(node.qualified_op)
            out = node.outputs[0] if node.outputs else None
            if handler is None or out is None or out.dtype != DType.FLOAT:
                continue
            self.node = node
            reason = handler(node)
            if reason:
                self.refusals.append(f"{node.label}: {reason}")
        self.node = None
        self.finish()
        return len(self.replaced)

    def finish(self) -> None:
        """ReorderOutput for every converted value that something outside NCHWc still reads; drop the originals."""
        replaced = set(self.replaced)
        for orig, blk in self.blocked.items():
            if orig.is_graph_output or any(u.node not in replaced for u in orig.uses):
                producer = blk.value.producer
                assert producer is not None
                with self.g.inserting_after(producer):
                    back = self.g.add("ReorderOutput", [blk.value], {"channels": blk.channels}, domain=NCHWC_DOMAIN,
                                      name=orig.producer.name if orig.producer else None,
                                      provenance=Provenance("nchwc", ()))
                self.infer(back)
                back.output.name = orig.name
                self.g.replace_all_uses(orig, back.output)
        for node in reversed(self.replaced):
            self.g.remove(node)

    # -- handlers: each converts its node and returns None, or returns why it did not ------------------------
    def conv(self, node: Node) -> str | None:
        x, w = node.inputs[0], node.inputs[1]
        b = node.inputs[2] if len(node.inputs) > 2 else None
        assert x is not None and w is not None
        if w.const is None or w.shape is None or len(w.shape) != 4 or w.dtype != DType.FLOAT:
            return "the filter is not a constant 4-D float32 tensor"
        if b is not None and b.const is None:
            return "the bias is not a constant"
        out_ch, in_ch = w.shape[0], w.shape[1]
        group = node.attr("group")
        if group == 1:
            direct = in_ch < self.block  # reads NCHW: fewer multiply-adds than over a zero-padded block
            xin = None if direct else self.to_blocked(x)
            if not direct and xin is None:
                return f"{in_ch} input channels are not a multiple of {CHANNEL_ALIGNMENT} (ReorderInput needs that)"
            conv_group = 1
        elif in_ch == 1 and out_ch == group:
            if out_ch % CHANNEL_ALIGNMENT:
                return f"depthwise conv over {out_ch} channels, not a multiple of {CHANNEL_ALIGNMENT}"
            direct, xin, conv_group = False, self.to_blocked(x), round_up(out_ch, self.block)
        elif in_ch % self.block or (out_ch // group) % self.block:
            return (f"grouped conv ({group} groups, {in_ch} input and {out_ch // group} output channels per group): "
                    f"channels per group must be multiples of the block size {self.block}")
        else:
            direct, xin, conv_group = False, self.to_blocked(x), group
        if not direct and xin is None:
            return "its input cannot be reordered to NCHWc"
        bo = direct or (group > 1 and in_ch == 1)
        attrs: dict[str, Any] = {k: a for k, a in node.attrs.items()
                                 if k in ("auto_pad", "kernel_shape", "dilations", "strides", "pads")}
        attrs["group"] = conv_group
        inputs: list[Value | None] = [x if direct else xin.value, self.filter(w, bo)]  # type: ignore[union-attr]
        if b is not None:
            bias = b.const.numpy()  # type: ignore[union-attr]  # checked constant above
            inputs.append(self.g.add_constant(np.pad(bias, (0, round_up(out_ch, self.block) - out_ch))))
        activation = node.attr("activation") if node.op == "FusedConv" else None
        params = tuple(node.attr("activation_params")) if activation else ()
        if activation in NCHWC_ACTIVATIONS:
            attrs.update(_activation_attrs(activation, params))
        y = self.add("Conv", inputs, attrs).output
        if activation and activation not in NCHWC_ACTIVATIONS:
            y = expand_activation(activation, params, y, self.emit, self.scalar)
        self.done(node, _Blocked(y, out_ch))
        return None

    def filter(self, w: Value, bo: bool) -> Value:
        key = (w, bo)
        if key not in self.filters:
            layout = filter_oihwbo if bo else filter_oihwbibo
            self.filters[key] = self.g.add_constant(layout(w.numpy(), self.block))  # type: ignore[arg-type]
        return self.filters[key]

    def pool(self, node: Node) -> str | None:
        if len(node.outputs) > 1 and node.outputs[1] is not None:
            return "MaxPool's Indices output is used"
        if any(d != 1 for d in node.attr("dilations", None) or ()):
            return "dilated pooling"
        if node.op == "MaxPool" and node.attr("storage_order"):
            return "storage_order is 1"
        if _rank(node.inputs[0]) != 4:
            return "not a 2-D pool"
        xin = self.to_blocked(node.inputs[0], self.block)  # type: ignore[arg-type]
        if xin is None:
            return f"its channels are not a multiple of the block size {self.block}"
        keep = ("auto_pad", "kernel_shape", "strides", "pads", "ceil_mode",
                "count_include_pad" if node.op == "AveragePool" else "storage_order")
        y = self.add(node.op, [xin.value], {k: a for k, a in node.attrs.items() if k in keep}).output
        self.done(node, _Blocked(y, xin.channels))
        return None

    def global_pool(self, node: Node) -> str | None:
        src = self.blocked.get(node.inputs[0])  # type: ignore[arg-type]
        if src is None or _rank(node.inputs[0]) != 4:
            return "its input is not NCHWc"
        self.done(node, _Blocked(self.add(node.op, [src.value], {}).output, src.channels))
        return None

    def resize(self, node: Node) -> str | None:
        x = node.inputs[0]
        src = self.blocked.get(x)  # type: ignore[arg-type]
        if src is None:
            return "its input is not NCHWc"
        scales = _resize_scales(node)
        if isinstance(scales, str):
            return scales
        mode, ctm = node.attr("mode"), node.attr("coordinate_transformation_mode")
        attrs: dict[str, Any] = {"scales": scales}
        if mode == "nearest":
            if ctm != "asymmetric" or node.attr("nearest_mode") != "floor":
                return "nearest mode other than asymmetric coordinates with floor rounding"
        elif mode == "linear":
            out = node.output.shape
            if ctm == "pytorch_half_pixel" and out is not None and all(isinstance(d, int) and d > 1 for d in out[2:]):
                ctm = "half_pixel"  # the same as half_pixel unless an output dim is 1
            if ctm not in ("asymmetric", "align_corners", "half_pixel"):
                return f"linear mode with coordinate_transformation_mode {ctm!r}"
            attrs.update(mode="linear", coordinate_transformation_mode=ctm)
        else:
            return f"mode {mode!r}"
        self.done(node, _Blocked(self.add("Upsample", [src.value], attrs).output, src.channels))
        return None

    def concat(self, node: Node) -> str | None:
        if _rank(node.output) != 4 or node.attr("axis") not in (1, -3):
            return "not a concatenation of 4-D tensors over channels"
        found = [self.blocked.get(v) for v in node.inputs]  # type: ignore[arg-type]
        srcs = [s for s in found if s is not None and s.channels % self.block == 0]
        if len(srcs) != len(found):
            return f"an input is not NCHWc with channels a multiple of the block size {self.block}"
        y = self.add("Concat", [s.value for s in srcs], {"axis": 1}, domain="").output
        self.done(node, _Blocked(y, sum(s.channels for s in srcs)))
        return None

    def binary(self, node: Node) -> str | None:
        a, b = node.inputs
        sa, sb = self.blocked.get(a), self.blocked.get(b)  # type: ignore[arg-type]
        if sa is None or sb is None:
            return "an input is not NCHWc"
        if sa.channels != sb.channels or not _same_static_shape(a, b):  # type: ignore[arg-type]
            # a broadcast (an SE block's x * scale[N, C, 1, 1]) could run on the blocked memory viewed as
            # [N, C/B, H, W, B], but ONNX Runtime's Mul is slower on that than two reorders (mobilenet 1.03x)
            return f"inputs of shapes {a.shape} and {b.shape} differ or are not static"  # type: ignore[union-attr]
        if node.op == "Add":
            for mine, orig, other in ((sa, a, sb), (sb, b, sa)):
                conv = self.fusable_conv(mine, orig)  # type: ignore[arg-type]
                if conv is not None and len(conv.inputs) < 4:
                    self.g.move_before(node, conv)  # after the producer of the other operand
                    while len(conv.inputs) < 3:
                        conv.append_input(None)
                    conv.append_input(other.value)
                    self.done(node, mine)
                    return None
        self.done(node, _Blocked(self.add(node.op, [sa.value, sb.value], {}, domain="").output, sa.channels))
        return None

    def unary(self, node: Node) -> str | None:
        x = node.inputs[0]
        src = self.blocked.get(x)  # type: ignore[arg-type]
        if src is None:
            return "its input is not NCHWc"
        if node.op == "Clip" and any(v is not None and v.const is None for v in node.inputs[1:]):
            return "Clip bounds are not constants"
        conv = self.fusable_conv(src, x)  # type: ignore[arg-type]
        if conv is not None:
            activation, params = _unary_activation(node)
            for key, attr in _activation_attrs(activation, params).items():
                conv.set_attr(key, attr)
            self.done(node, src)
            return None
        y = self.add(node.op, [src.value, *node.inputs[1:]], dict(node.attrs), domain="").output
        self.done(node, _Blocked(y, src.channels))
        return None

    def fusable_conv(self, src: _Blocked, orig: Value) -> Node | None:
        """The NCHWc Conv that made ``src`` if an activation or a Sum may still be folded into it."""
        conv = src.value.producer
        if conv is None or conv.domain != NCHWC_DOMAIN or conv.op != "Conv" or "activation" in conv.attrs:
            return None
        if src.value.has_uses or not orig.has_one_use():
            return None
        return conv


def _channels(v: Value) -> int | None:
    shape = v.shape
    return shape[1] if shape is not None and len(shape) == 4 and isinstance(shape[1], int) else None


def _rank(v: Value | None) -> int | None:
    return None if v is None or v.shape is None else len(v.shape)


def _same_static_shape(a: Value, b: Value) -> bool:
    return a.shape is not None and a.shape == b.shape and all(isinstance(d, int) for d in a.shape)


def _activation_attrs(activation: str, params: tuple[float, ...]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"activation": activation}
    if params:
        attrs["activation_params"] = [float(p) for p in params]
    return attrs


def _unary_activation(node: Node) -> tuple[str, tuple[float, ...]]:
    """A unary op as an activation name and parameters (:data:`~graphopt.ir.ops.fused.ACTIVATIONS`)."""
    if node.op == "Clip":
        bounds = [v.numpy() if v is not None else None for v in node.inputs[1:3]]
        bounds += [None] * (2 - len(bounds))
        low = float(bounds[0]) if bounds[0] is not None else float(np.finfo(np.float32).min)
        high = float(bounds[1]) if bounds[1] is not None else float(np.finfo(np.float32).max)
        return "Clip", (low, high)
    return node.op, tuple(float(node.attr(p)) for p in ACTIVATIONS[node.op].params)


def _resize_scales(node: Node) -> list[int] | str:
    """Resize's integer scales per axis (batch and channel 1), or why it has none."""
    if node.attr("antialias") or node.attr("axes", None) or node.attr("exclude_outside"):
        return "antialias, axes or exclude_outside is set"
    inputs = list(node.inputs) + [None] * (4 - len(node.inputs))
    scales, sizes, x = inputs[2], inputs[3], inputs[0]
    if sizes is not None:
        if sizes.const is None or x is None or x.shape is None or not all(isinstance(d, int) and d for d in x.shape):
            return "sizes are not constant or the input shape is not static"
        if node.attr("keep_aspect_ratio_policy") != "stretch":
            return "keep_aspect_ratio_policy is not stretch"
        ratio = [s / d for s, d in zip(sizes.numpy().tolist(), x.shape)]  # type: ignore[union-attr]
    elif scales is not None and scales.const is not None:
        ratio = scales.numpy().tolist()  # type: ignore[union-attr]
    else:
        return "scales are not constant"
    if len(ratio) != 4 or any(r != int(r) or r < 1 for r in ratio) or ratio[0] != 1 or ratio[1] != 1:
        return f"scales {ratio} are not integers >= 1 on the spatial axes only"
    return [int(r) for r in ratio]


_ROOTS = frozenset({"Conv", f"{GRAPHOPT_DOMAIN}::FusedConv", "MaxPool", "AveragePool"})
"""Ops that can start an NCHWc region (the others only continue one)."""


@register_pass
class Nchwc(Pass):
    """Rewrites float convolutions and pools into ONNX Runtime's NCHWc ops (see the module docstring)."""

    name = "nchwc"
    level = 2
    stage = "post"
    targets = frozenset({"onnxruntime"})
    doc = "ONNX Runtime NCHWc layout for convs and pools, filters blocked at compile time (target onnxruntime)"
    block_size: int = 0
    """NCHWc block size; 0 probes the installed ONNX Runtime on this CPU."""
    debug: bool = False

    def suits(self, target: str | None) -> bool:
        return target == "onnxruntime"  # CPU- and runtime-specific: never for an unnamed target

    def run(self, graph: Graph) -> PassResult:
        if not any(n.qualified_op in _ROOTS for n in graph):
            return PassResult(False)  # nothing that starts an NCHWc region: no need to probe ONNX Runtime
        block = self.block_size or probe_block_size()
        if not block:
            logger.info("nchwc: the installed ONNX Runtime has no NCHWc kernels on this CPU; graph left as it is")
            return PassResult(False)
        previous = graph.metadata.get(BLOCK_SIZE_KEY)
        if previous is not None and int(previous) != block:
            logger.info("nchwc: graph already blocked for block size %s, not %d; left as it is", previous, block)
            return PassResult(False)
        graph.metadata[BLOCK_SIZE_KEY] = str(block)  # shape inference of the new nodes reads it
        converter = _Converter(graph, block)
        converted = converter.run()
        if self.debug:
            for reason in converter.refusals:
                logger.info("nchwc: kept in NCHW: %s", reason)
        if not converted and previous is None:
            del graph.metadata[BLOCK_SIZE_KEY]
        return PassResult(converted > 0, {"nodes_converted": converted, "refused": len(converter.refusals),
                                          "reorders_in": len(converter.reordered)})

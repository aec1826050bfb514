"""Each ATen converter against torch eager: a table of small cases, lowered and run in ONNX Runtime.

A case calls one ATen overload with example tensors. The converter is run on graph inputs of the same
types (arguments bound to the schema exactly as the torch.export frontend binds them), the graph is
emitted to ONNX and run in ONNX Runtime with graph optimizations off, and every output the converter
produced must match torch's in dtype and shape, and in value (rtol 1e-4, atol 1e-5; exactly for integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

import graphopt
from graphopt.frontends.aten import Lowering, lookup
from graphopt.frontends.aten.common import to_dtype
from graphopt.frontends.torch_export import _bind
from graphopt.ir.core import Graph, Value
from graphopt.ir.types import TensorType

aten = torch.ops.aten
_gen = torch.Generator().manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen)


def pos(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen) + 0.5


def ri(high: int, *shape: int, low: int = 0) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=_gen)


def b(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen) > 0.5


def mask(*shape: int) -> torch.Tensor:
    """A random attention mask in which every query still sees its first key."""
    m = b(*shape)
    m[..., 0] = True
    return m


@dataclass
class Case:
    op: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    id: str = ""


def case(op: Any, *args: Any, id: str = "", **kwargs: Any) -> Any:
    return pytest.param(Case(op, args, kwargs), id=id or str(op).replace("aten.", ""))


def lower(c: Case) -> tuple[Graph, list[np.ndarray], list[int]]:
    """The converter's graph for case ``c``, its input arrays, and which torch outputs it produced."""
    g = Graph(name="case")
    cx = Lowering(g, "test")
    feeds: list[np.ndarray] = []

    def lift(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            v = Value(TensorType(to_dtype(x.dtype), tuple(x.shape)), f"in{len(feeds)}")
            g.inputs.append(v)
            feeds.append(x.numpy())
            return v
        if isinstance(x, (list, tuple)):
            return type(x)(lift(i) for i in x)
        return x

    schema = c.op._schema
    fn = lookup(schema.name, schema.overload_name)
    assert fn is not None, f"no converter for {schema.name}.{schema.overload_name}"
    pos_args, kw = _bind(schema, lift(c.args), {k: lift(v) for k, v in c.kwargs.items()})
    result = fn(cx, *pos_args, **kw)
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    produced = [i for i, v in enumerate(results) if v is not None]
    g.outputs = [results[i] for i in produced]
    return g, feeds, produced


def run(g: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    model = graphopt.to_onnx(g)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), feeds)})


def check(c: Case) -> None:
    expected = c.op(*c.args, **c.kwargs)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    g, feeds, produced = lower(c)
    graphopt.verify(g)
    got = run(g, feeds)
    for i, actual in zip(produced, got):
        want = expected[i].numpy()
        assert actual.dtype == want.dtype, f"output {i}: dtype {actual.dtype}, torch gives {want.dtype}"
        assert actual.shape == want.shape, f"output {i}: shape {actual.shape}, torch gives {want.shape}"
        if want.dtype.kind == "f":
            np.testing.assert_allclose(actual, want, rtol=1e-4, atol=1e-5, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(actual, want, err_msg=f"output {i}")


UNARY = [aten.abs, aten.neg, aten.exp, aten.sqrt, aten.rsqrt, aten.sin, aten.cos, aten.tan, aten.atan,
         aten.sinh, aten.cosh, aten.asinh, aten.tanh, aten.sigmoid, aten.erf, aten.reciprocal, aten.relu,
         aten.sign, aten.ceil, aten.floor, aten.round, aten.trunc, aten.expm1, aten.silu, aten.mish,
         aten.hardswish, aten.hardsigmoid]
POSITIVE = [aten.log, aten.log1p, aten.log2, aten.log10, aten.acosh]
UNIT = [aten.asin, aten.acos, aten.atanh]

CASES = [
    *(case(op.default, r(3, 4) * 2, id=str(op).replace("aten.", "")) for op in UNARY),
    *(case(op.default, pos(3, 4) + (1 if op is aten.acosh else 0), id=str(op).replace("aten.", ""))
      for op in POSITIVE),
    *(case(op.default, torch.rand(3, 4, generator=_gen) * 1.8 - 0.9, id=str(op).replace("aten.", ""))
      for op in UNIT),
    case(aten.sqrt.default, ri(10, 5), id="sqrt-int-to-float"),
    case(aten.floor.default, ri(10, 5), id="floor-int-identity"),
    case(aten.round.decimals, r(6) * 10, decimals=2),
    case(aten.isnan.default, torch.tensor([1.0, float("nan"), float("inf")])),
    case(aten.isinf.default, torch.tensor([1.0, float("nan"), -float("inf")])),
    case(aten.logical_not.default, ri(3, 6)),
    case(aten.bitwise_not.default, b(6)),
    case(aten.bitwise_not.default, ri(100, 6), id="bitwise_not-int"),
    case(aten.gelu.default, r(3, 5)),
    case(aten.gelu.default, r(3, 5), approximate="tanh", id="gelu-tanh"),
    case(aten.leaky_relu.default, r(3, 5), 0.2),
    case(aten.elu.default, r(3, 5), 0.7),
    case(aten.elu.default, r(3, 5), 1.6732, 1.0507, 1.0, id="elu-selu"),
    case(aten.softplus.default, r(3, 5) * 10, 2.0, 5.0),
    case(aten.hardtanh.default, r(3, 5) * 5, 0.0, 6.0),
    case(aten.prelu.default, r(2, 3, 4, 4), pos(3)),
    case(aten._prelu_kernel.default, r(2, 3, 4, 4), pos(3, 1, 1)),
    case(aten.clamp.default, r(3, 5), -0.5, 0.5),
    case(aten.clamp.default, r(3, 5), None, 0.5, id="clamp-max-only"),
    case(aten.clamp.default, ri(10, 5), 2, 7, id="clamp-int"),
    case(aten.clamp.Tensor, r(3, 5), r(3, 5), r(5) + 1),
    case(aten.clamp_min.default, r(3, 5), 0.1),
    # arithmetic and type promotion
    case(aten.add.Tensor, r(2, 3), r(3)),
    case(aten.add.Tensor, r(2, 3), r(2, 3), alpha=2.5, id="add-alpha"),
    case(aten.add.Tensor, ri(10, 2, 3), r(3), id="add-int-float"),
    case(aten.add.Tensor, ri(10, 2, 3), 1.5, id="add-int-scalar-float"),
    case(aten.add.Tensor, r(2, 3).half(), torch.tensor(2.0, dtype=torch.float64), id="add-half-0d-double"),
    case(aten.add.Tensor, ri(10, 2, 3).int(), ri(10, 3), id="add-int32-int64"),
    case(aten.add.Scalar, r(2, 3), 2),
    case(aten.sub.Tensor, r(2, 3), r(2, 3), alpha=3),
    case(aten.rsub.Scalar, r(2, 3), 1.0),
    case(aten.mul.Tensor, r(2, 3), b(2, 3), id="mul-bool-mask"),
    case(aten.mul.Tensor, b(2, 3), b(2, 3), id="mul-bool-bool"),
    case(aten.mul.Scalar, ri(10, 2, 3), 3),
    case(aten.div.Tensor, r(2, 3), pos(2, 3)),
    case(aten.div.Tensor, ri(10, 2, 3), ri(5, 2, 3, low=1), id="div-int-true"),
    case(aten.div.Tensor_mode, r(2, 3) * 10, pos(2, 3), rounding_mode="floor", id="div-floor"),
    case(aten.div.Tensor_mode, r(2, 3) * 10, pos(2, 3), rounding_mode="trunc", id="div-trunc"),
    case(aten.div.Tensor_mode, ri(20, 8, low=-20), ri(5, 8, low=1), rounding_mode="floor", id="div-floor-int"),
    case(aten.div.Tensor_mode, ri(20, 8, low=-20), ri(5, 8, low=1), rounding_mode="trunc", id="div-trunc-int"),
    case(aten.floor_divide.default, ri(20, 8, low=-20), ri(5, 8, low=1)),
    case(aten.remainder.Tensor, r(8) * 10, pos(8) * 3),
    case(aten.remainder.Scalar, ri(20, 8, low=-20), 3),
    case(aten.fmod.Tensor, r(8) * 10, pos(8) * 3),
    case(aten.pow.Tensor_Scalar, pos(3, 4), 3),
    case(aten.pow.Tensor_Scalar, ri(5, 3, 4), 2, id="pow-int"),
    case(aten.pow.Tensor_Tensor, pos(3, 4), r(3, 4)),
    case(aten.pow.Scalar, 2.0, r(3, 4)),
    case(aten.maximum.default, r(3, 4), r(4)),
    case(aten.minimum.default, r(3, 4), r(4)),
    case(aten.atan2.default, r(20), r(20)),
    case(aten.eq.Tensor, ri(3, 10), ri(3, 10)),
    case(aten.eq.Scalar, r(3, 4), 0.5),
    case(aten.ne.Scalar, ri(3, 10), 1),
    case(aten.lt.Tensor, r(3, 4), r(4)),
    case(aten.le.Scalar, ri(5, 10), 2),
    case(aten.gt.Scalar, r(3, 4), 0),
    case(aten.ge.Tensor, ri(5, 10), ri(5, 10)),
    case(aten.logical_and.default, b(5), ri(2, 5)),
    case(aten.logical_or.default, b(5), b(5)),
    case(aten.logical_xor.default, b(5), b(5)),
    case(aten.bitwise_and.Tensor, b(5), b(5)),
    case(aten.bitwise_or.Tensor, ri(16, 5), ri(16, 5)),
    case(aten.bitwise_xor.Tensor, ri(16, 5), ri(16, 5)),
    case(aten.where.self, b(3, 4), r(3, 4), r(4)),
    case(aten.where.ScalarOther, b(3, 4), r(3, 4), 0.0),
    case(aten.masked_fill.Scalar, r(3, 4), b(3, 4), -1e9),
    # shapes and views
    case(aten.view.default, r(2, 3, 4), [6, -1]),
    case(aten._unsafe_view.default, r(2, 3, 4), [2, 12]),
    case(aten.view.default, r(0, 4), [0, 2, 2], id="view-zero-size"),
    case(aten.permute.default, r(2, 3, 4), [2, 0, -2]),
    case(aten.transpose.int, r(2, 3, 4), 0, -1),
    case(aten.t.default, r(3, 4)),
    case(aten.expand.default, r(3, 1), [2, -1, 4]),
    case(aten.slice.Tensor, r(5, 6), 1, 1, 5, 2),
    case(aten.slice.Tensor, r(5, 6), 0, -3, None, id="slice-negative-start"),
    case(aten.slice.Tensor, r(5, 6), 1, 0, 9223372036854775807, id="slice-whole"),
    case(aten.select.int, r(4, 5), 1, -2),
    case(aten.cat.default, [r(2, 3), r(4, 3)]),
    case(aten.cat.default, [r(2, 3), ri(5, 2, 2)], 1, id="cat-promotes"),
    case(aten.stack.default, [r(2, 3), r(2, 3)], -1),
    case(aten.split_with_sizes.default, r(7, 3), [2, 5]),
    case(aten.split.Tensor, r(7, 3), 3),
    case(aten.chunk.default, r(3, 7), 3, 1),
    case(aten.unbind.int, r(3, 2)),
    case(aten.squeeze.dims, r(2, 1, 3, 1), [1, -1]),
    case(aten.squeeze.dim, r(2, 3), 1, id="squeeze-not-one"),
    case(aten.squeeze.default, r(1, 3, 1)),
    case(aten.unsqueeze.default, r(2, 3), -1),
    case(aten.flatten.using_ints, r(2, 3, 4, 5), 1, 2),
    case(aten.flip.default, r(3, 4, 5), [0, 2]),
    case(aten.roll.default, r(4, 5), [1, -2], [0, 1]),
    case(aten.repeat.default, r(2, 3), [2, 1, 2]),
    case(aten.constant_pad_nd.default, r(2, 3, 4), [1, 2, 0, 1], 0.5),
    case(aten.constant_pad_nd.default, r(2, 3, 4), [-1, 1], id="pad-crop"),
    case(aten.reflection_pad2d.default, r(1, 2, 4, 4), [1, 1, 2, 0]),
    case(aten.replication_pad2d.default, r(1, 2, 4, 4), [1, 1, 2, 0]),
    case(aten.clone.default, r(3)),
    case(aten._to_copy.default, r(3, 4) * 10, dtype=torch.int32),
    case(aten._to_copy.default, ri(3, 4), dtype=torch.bool, id="to-bool"),
    case(aten.alias.default, r(3)),
    case(aten.diagonal.default, r(3, 4, 5), 1, 0, 2),
    case(aten.diagonal.default, r(4, 4), -2, id="diagonal-below"),
    case(aten.as_strided.default, r(4, 5), [3, 3], [5, 1], 1),
    case(aten.copy.default, r(2, 3), ri(5, 3)),
    # nn
    case(aten.convolution.default, r(1, 4, 8, 8), r(6, 2, 3, 3), r(6), [2, 1], [1, 0], [1, 2], False, [0, 0], 2),
    case(aten.convolution.default, r(1, 3, 10), r(4, 3, 3), None, [1], [1], [1], False, [0], 1, id="conv1d"),
    case(aten.convolution.default, r(1, 4, 5, 5), r(4, 3, 3, 3), r(6), [2, 2], [1, 1], [1, 1], True, [1, 1], 2,
         id="conv-transpose-groups"),
    case(aten._native_batch_norm_legit_no_training.default, r(2, 3, 4, 4), pos(3), r(3), r(3), pos(3), 0.1, 1e-5),
    case(aten.native_batch_norm.default, r(2, 3, 4), None, None, r(3), pos(3), False, 0.1, 1e-3,
         id="batch-norm-no-affine"),
    case(aten.native_layer_norm.default, r(2, 5, 8), [8], pos(8), r(8), 1e-5),
    case(aten.native_layer_norm.default, r(2, 5, 8), [5, 8], None, None, 1e-5, id="layer-norm-plain"),
    case(aten.native_group_norm.default, r(2, 6, 4, 4), pos(6), r(6), 2, 6, 16, 3, 1e-5),
    case(aten.addmm.default, r(5), r(3, 4), r(4, 5), beta=0.5, alpha=2.0),
    case(aten.mm.default, r(3, 4), r(4, 5)),
    case(aten.bmm.default, r(2, 3, 4), r(2, 4, 5)),
    case(aten.baddbmm.default, r(2, 3, 5), r(2, 3, 4), r(2, 4, 5), beta=0.5, alpha=2.0),
    case(aten.linear.default, r(2, 3, 4), r(5, 4), r(5)),
    case(aten.max_pool2d_with_indices.default, r(1, 2, 7, 7), [3, 3], [2, 2], [1, 1]),
    case(aten.max_pool2d_with_indices.default, r(1, 2, 8, 8), [3, 3], [2, 2], [0, 0], [1, 1], True,
         id="max-pool-ceil"),
    case(aten.avg_pool2d.default, r(1, 2, 7, 7), [3, 3], [2, 2], [1, 1]),
    case(aten.avg_pool2d.default, r(1, 2, 7, 7), [3, 3], [2, 2], [1, 1], False, False, id="avg-pool-exclude-pad"),
    case(aten.adaptive_avg_pool2d.default, r(1, 2, 6, 8), [3, 4]),
    case(aten._adaptive_avg_pool2d.default, r(1, 2, 6, 8), [1, 1]),
    case(aten.upsample_nearest2d.vec, r(1, 2, 3, 4), None, [2.0, 2.0]),
    case(aten.upsample_nearest2d.vec, r(1, 2, 3, 4), [5, 7], None, id="nearest-sizes"),
    case(aten.upsample_nearest2d.default, r(1, 2, 3, 4), [6, 8]),
    case(aten.upsample_bilinear2d.vec, r(1, 2, 3, 4), None, False, [2.0, 2.0]),
    case(aten.upsample_bilinear2d.vec, r(1, 2, 3, 4), [5, 7], True, None, id="bilinear-align-corners"),
    case(aten.upsample_bilinear2d.default, r(1, 2, 3, 4), [7, 9], False),
    case(aten.upsample_bilinear2d.vec, r(1, 2, 3, 4), None, True, [2.0, 1.5], id="bilinear-align-corners-scales"),
    case(aten.upsample_bicubic2d.default, r(1, 2, 4, 4), [8, 8], False),
    case(aten._softmax.default, r(3, 5), -1, False),
    case(aten._log_softmax.default, r(3, 5), 0, False),
    case(aten.softmax.int, r(3, 5), 1),
    case(aten.embedding.default, r(10, 4), ri(10, 2, 3)),
    case(aten._embedding_bag.default, r(10, 4), torch.tensor([1, 2, 4, 5, 4, 3, 0, 9]), torch.tensor([0, 3, 3, 6]),
         id="embedding-bag-sum"),
    case(aten._embedding_bag.default, r(10, 4), torch.tensor([1, 2, 4, 5, 4, 3, 0, 9]), torch.tensor([0, 3, 3, 6]),
         False, 1, False, None, False, 4, id="embedding-bag-mean-padding"),
    case(aten._embedding_bag.default, r(10, 4), torch.tensor([1, 2, 4, 5, 4, 3, 0, 9]), torch.tensor([0, 3, 3, 8]),
         False, 2, False, None, True, id="embedding-bag-max-last-offset"),
    case(aten._embedding_bag.default, r(10, 4), torch.tensor([1, 2, 4, 5]), torch.tensor([0, 1]), False, 0, False,
         r(4), id="embedding-bag-weighted"),
    case(aten.scaled_dot_product_attention.default, r(2, 3, 5, 8), r(2, 3, 6, 8), r(2, 3, 6, 8)),
    case(aten.scaled_dot_product_attention.default, r(2, 3, 5, 8), r(2, 3, 5, 8), r(2, 3, 5, 8), is_causal=True,
         scale=0.3, id="sdpa-causal-scale"),
    case(aten.scaled_dot_product_attention.default, r(2, 3, 5, 8), r(2, 3, 6, 8), r(2, 3, 6, 8), mask(5, 6),
         id="sdpa-bool-mask"),
    case(aten.scaled_dot_product_attention.default, r(2, 4, 5, 8), r(2, 4, 7, 8), r(2, 4, 7, 8), is_causal=True,
         id="sdpa-causal-rectangular"),
    case(aten.scaled_dot_product_attention.default, r(2, 4, 5, 8), r(2, 2, 6, 8), r(2, 2, 6, 8), enable_gqa=True,
         id="sdpa-grouped-query"),
    case(aten.scaled_dot_product_attention.default, r(2, 5, 8), r(2, 6, 8), r(2, 6, 8), r(5, 6),
         id="sdpa-3d-float-mask"),
    case(aten.scaled_dot_product_attention.default, r(3, 5, 8), r(3, 6, 8), r(3, 6, 8), mask(3, 5, 6),
         id="sdpa-3d-batch-mask"),
    case(aten._scaled_dot_product_flash_attention_for_cpu.default, r(2, 3, 5, 8), r(2, 3, 6, 8), r(2, 3, 6, 8)),
    case(aten.pixel_shuffle.default, r(1, 8, 3, 3), 2),
    case(aten.native_dropout.default, r(3, 4), 0.5, False),
    case(aten.dropout.default, r(3, 4), 0.5, False),
    case(aten.grid_sampler_2d.default, r(1, 2, 5, 6), torch.rand(1, 3, 4, 2, generator=_gen) * 2.4 - 1.2, 0, 0, False),
    case(aten.grid_sampler_2d.default, r(1, 2, 5, 6), torch.rand(1, 3, 4, 2, generator=_gen) * 2.4 - 1.2, 1, 1, True,
         id="grid-nearest-border"),
    case(aten._cdist_forward.default, r(2, 4, 3), r(2, 5, 3), 2.0, None),
    case(aten._cdist_forward.default, r(4, 3), r(5, 3), 1.0, None, id="cdist-p1"),
    case(aten._pdist_forward.default, r(5, 3), 2.0),
    # reductions
    case(aten.sum.dim_IntList, r(2, 3, 4), [1, -1]),
    case(aten.sum.dim_IntList, r(2, 3, 4), [1], True, id="sum-keepdim"),
    case(aten.sum.default, b(2, 3), id="sum-bool-to-int64"),
    case(aten.sum.dim_IntList, ri(5, 2, 3).int(), [0], dtype=torch.float32, id="sum-dtype"),
    case(aten.mean.dim, r(2, 3, 4), [-1], True),
    case(aten.mean.default, r(2, 3, 4)),
    case(aten.prod.dim_int, pos(2, 3, 4), 1),
    case(aten.amax.default, r(2, 3, 4), [0, 2]),
    case(aten.amin.default, r(2, 3, 4), [1], True),
    case(aten.max.dim, r(3, 5), 1),
    case(aten.min.dim, r(3, 5), 0, True),
    case(aten.max.default, r(3, 5)),
    case(aten.max.other, r(3, 5), r(3, 5)),
    case(aten.var.correction, r(3, 5), [1], correction=1, keepdim=True),
    case(aten.var.correction, r(3, 5), None, correction=0, id="var-all-population"),
    case(aten.std.correction, r(3, 5), [0]),
    case(aten.argmax.default, r(3, 5), 1),
    case(aten.argmin.default, r(3, 5)),
    case(aten.argmax.default, r(3, 5), None, True, id="argmax-flat-keepdim"),
    case(aten.any.dim, b(3, 5), 1),
    case(aten.any.dims, r(3, 5) > 1.5, [0, 1]),
    case(aten.all.default, ri(2, 3, 5)),
    case(aten.cumsum.default, r(3, 5), 1),
    case(aten.cumsum.default, ri(4, 3, 5), -1, id="cumsum-int"),
    case(aten.logsumexp.default, r(3, 5), [1]),
    case(aten.linalg_vector_norm.default, r(3, 5), 2, [1]),
    # indexing
    case(aten.index.Tensor, r(5, 6), [ri(5, 3)]),
    case(aten.index.Tensor, r(5, 6, 7), [None, ri(6, 2, 2, low=-6)], id="index-middle"),
    case(aten.index.Tensor, r(5, 6, 7), [ri(5, 3), ri(6, 3)], id="index-two-leading"),
    case(aten.index.Tensor, r(5, 6, 7), [None, ri(6, 3), ri(7, 3)], id="index-two-adjacent"),
    case(aten.index.Tensor, r(5, 6, 7), [ri(5, 3), None, ri(7, 3)], id="index-separated"),
    case(aten.index.Tensor, r(4, 5), [r(4, 5) > 0], id="index-bool-mask"),
    case(aten.index_put.default, r(5, 6), [ri(5, 3)], r(3, 6)),
    case(aten.index_put.default, r(5, 6), [ri(5, 4), ri(6, 4)], r(4), True, id="index-put-accumulate"),
    case(aten.index_put.default, r(5, 6), [r(5, 6) > 0], torch.tensor(0.0), id="index-put-mask"),
    case(aten.index_select.default, r(5, 6), 1, ri(6, 4)),
    case(aten.gather.default, r(4, 5), 1, ri(5, 4, 3)),
    case(aten.scatter.src, r(4, 5), 1, torch.tensor([[0, 1], [2, 3], [4, 0], [1, 2]]), r(4, 2)),
    case(aten.scatter.value, r(4, 5), 0, torch.tensor([[0, 1, 2, 3, 0]]), 7.0),
    case(aten.scatter_add.default, torch.zeros(3, 4), 0, ri(3, 5, 4), r(5, 4)),
    case(aten.scatter_reduce.two, r(3, 4), 0, ri(3, 5, 4), r(5, 4), "amax"),
    case(aten.select_scatter.default, r(4, 5), r(5), 0, -1),
    case(aten.slice_scatter.default, r(6, 5), r(6, 2), 1, 1, 5, 2),
    case(aten.masked_scatter.default, r(3, 4), b(3, 4), r(12)),
    case(aten.topk.default, r(3, 8), 3),
    case(aten.topk.default, r(3, 8), 2, 0, False, id="topk-smallest"),
    case(aten.sort.default, r(3, 8), 1, True),
    case(aten.sort.stable, r(3, 8), stable=True, dim=0),
    case(aten.argsort.default, r(3, 8)),
    case(aten.nonzero.default, b(3, 4)),
    case(aten.where.default, b(3, 4), id="where-indices"),
    # creation
    case(aten.arange.default, 5),
    case(aten.arange.start_step, 1, 10, 3),
    case(aten.arange.start_step, 0.0, 1.0, 0.25, id="arange-float"),
    case(aten.full.default, [2, 3], 1.5),
    case(aten.full.default, [40, 40], 7, id="full-large-int"),
    case(aten.full.default, [2], True, id="full-bool"),
    case(aten.zeros.default, [2, 3], dtype=torch.int32),
    case(aten.ones.default, [3]),
    case(aten.full_like.default, r(2, 3), 4),
    case(aten.zeros_like.default, ri(5, 2, 3)),
    case(aten.ones_like.default, r(2, 3), dtype=torch.bool),
    case(aten.new_zeros.default, r(2), [3, 2]),
    case(aten.scalar_tensor.default, 3.5),
    case(aten.fill.Scalar, r(2, 3), 2),
    case(aten.linspace.default, 0.0, 1.0, 5),
]


@pytest.mark.parametrize("c", CASES)
def test_converter_matches_torch(c: Case) -> None:
    check(c)


def test_cases_cover_every_family() -> None:
    """The table reaches every converter module (a new family must bring its cases)."""
    modules = {lookup(p.values[0].op._schema.name, p.values[0].op._schema.overload_name).__module__  # type: ignore[union-attr]
               for p in CASES}
    assert {f"graphopt.frontends.aten.{m}" for m in
            ("creation", "elementwise", "indexing", "nn_ops", "reduce", "shape_ops")} <= modules

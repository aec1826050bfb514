"""The emulated ``INetworkDefinition``: the layer-adding methods the emitter uses, and running a network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tests.tensorrt_emulator import layers as L
from tests.tensorrt_emulator.enums import NUMPY, NetworkDefinitionCreationFlag
from tests.tensorrt_emulator.network import Dims, ITensor, TensorRTError, Weights


class INetworkDefinition:
    def __init__(self, flags: int = 0) -> None:
        self.strongly_typed = bool(flags & (1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)))
        self.layers: list[L.ILayer] = []
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._conditionals: list[L.IIfConditional] = []
        self.name = "network"

    def _own(self, t: Any, what: str) -> ITensor:
        if not isinstance(t, ITensor):
            raise TypeError(f"{what}: expected an ITensor, got {type(t).__name__}")
        if t._network is not self:
            raise TensorRTError(f"{what}: tensor {t.name!r} belongs to another network")
        return t

    def _add(self, layer: Any) -> Any:
        self.layers.append(layer)
        return layer

    # -- inputs and outputs ----------------------------------------------------------------------
    def add_input(self, name: str, dtype: Any, shape: Dims) -> ITensor:
        if not isinstance(shape, Dims) or dtype not in NUMPY:
            raise TypeError("add_input(name: str, dtype: DataType, shape: Dims)")
        if any(t.name == name for t in self._inputs):
            raise TensorRTError(f"network input name {name!r} is used twice")
        if any(d < -1 for d in shape):
            raise TensorRTError(f"input {name!r}: dims must be >= 0 or -1 (dynamic), got {list(shape)}")
        t = ITensor(self, None, 0, name)
        t._input_spec = (dtype, shape)
        self._inputs.append(t)
        return t

    def mark_output(self, tensor: ITensor) -> None:
        t = self._own(tensor, "mark_output")
        if t.is_network_input:
            raise TensorRTError(f"mark_output: {t.name!r} is a network input; add an identity layer")
        self._outputs.append(t)

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_input(self, index: int) -> ITensor:
        return self._inputs[index]

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    def get_layer(self, index: int) -> L.ILayer:
        return self.layers[index]

    # -- layers ----------------------------------------------------------------------------------
    def add_activation(self, input: ITensor, type: Any) -> L.IActivationLayer:
        return self._add(L.IActivationLayer(self, input, type))

    def add_cast(self, input: ITensor, to_type: Any) -> L.ICastLayer:
        return self._add(L.ICastLayer(self, input, to_type))

    def add_concatenation(self, inputs: Sequence[ITensor]) -> L.IConcatenationLayer:
        return self._add(L.IConcatenationLayer(self, inputs))

    def add_constant(self, shape: Dims, weights: Weights) -> L.IConstantLayer:
        return self._add(L.IConstantLayer(self, shape, weights))

    def add_convolution_nd(self, input: ITensor, num_output_maps: int, kernel_shape: Dims, kernel: Weights,
                           bias: Weights | None = None) -> L.IConvolutionLayer:
        return self._add(L.IConvolutionLayer(self, input, num_output_maps, kernel_shape, kernel, bias))

    def add_deconvolution_nd(self, input: ITensor, num_output_maps: int, kernel_shape: Dims, kernel: Weights,
                             bias: Weights | None = None) -> L.IDeconvolutionLayer:
        return self._add(L.IDeconvolutionLayer(self, input, num_output_maps, kernel_shape, kernel, bias))

    def add_elementwise(self, input1: ITensor, input2: ITensor, op: Any) -> L.IElementWiseLayer:
        return self._add(L.IElementWiseLayer(self, input1, input2, op))

    def add_gather(self, input: ITensor, indices: ITensor, axis: int) -> L.IGatherLayer:
        return self._add(L.IGatherLayer(self, input, indices, axis))

    def add_gather_v2(self, input: ITensor, indices: ITensor, mode: Any) -> L.IGatherLayer:
        return self._add(L.IGatherLayer(self, input, indices, 0, mode))

    def add_einsum(self, inputs: Sequence[ITensor], equation: str) -> L.IEinsumLayer:
        return self._add(L.IEinsumLayer(self, inputs, equation))

    def add_cumulative(self, input: ITensor, axis: ITensor, op: Any, exclusive: bool,
                       reverse: bool) -> L.ICumulativeLayer:
        return self._add(L.ICumulativeLayer(self, input, axis, op, exclusive, reverse))

    def add_if_conditional(self) -> L.IIfConditional:
        conditional = L.IIfConditional(self)
        self._conditionals.append(conditional)
        return conditional

    def add_fill(self, shape: Dims, op: Any, output_type: Any = None) -> L.IFillLayer:
        return self._add(L.IFillLayer(self, shape, op, *([output_type] if output_type is not None else [])))

    def add_identity(self, input: ITensor) -> L.IIdentityLayer:
        return self._add(L.IIdentityLayer(self, [input]))

    def add_matrix_multiply(self, input0: ITensor, op0: Any, input1: ITensor, op1: Any) -> L.IMatrixMultiplyLayer:
        return self._add(L.IMatrixMultiplyLayer(self, input0, op0, input1, op1))

    def add_normalization(self, input: ITensor, scale: ITensor, bias: ITensor, axesMask: int) -> L.INormalizationLayer:
        return self._add(L.INormalizationLayer(self, input, scale, bias, axesMask))

    def add_parametric_relu(self, input: ITensor, slopes: ITensor) -> L.IParametricReLULayer:
        return self._add(L.IParametricReLULayer(self, [input, slopes]))

    def add_pooling_nd(self, input: ITensor, type: Any, window_size: Dims) -> L.IPoolingLayer:
        return self._add(L.IPoolingLayer(self, input, type, window_size))

    def add_reduce(self, input: ITensor, op: Any, axes: int, keep_dims: bool) -> L.IReduceLayer:
        return self._add(L.IReduceLayer(self, input, op, axes, keep_dims))

    def add_resize(self, input: ITensor) -> L.IResizeLayer:
        return self._add(L.IResizeLayer(self, input))

    def add_select(self, condition: ITensor, then_input: ITensor, else_input: ITensor) -> L.ISelectLayer:
        return self._add(L.ISelectLayer(self, [condition, then_input, else_input]))

    def add_shape(self, input: ITensor) -> L.IShapeLayer:
        return self._add(L.IShapeLayer(self, [input]))

    def add_shuffle(self, input: ITensor) -> L.IShuffleLayer:
        return self._add(L.IShuffleLayer(self, input))

    def add_slice(self, input: ITensor, start: Dims, shape: Dims, stride: Dims) -> L.ISliceLayer:
        return self._add(L.ISliceLayer(self, input, start, shape, stride))

    def add_softmax(self, input: ITensor) -> L.ISoftMaxLayer:
        return self._add(L.ISoftMaxLayer(self, input))

    def add_topk(self, input: ITensor, op: Any, k: int, axes: int) -> L.ITopKLayer:
        return self._add(L.ITopKLayer(self, input, op, k, axes))

    def add_unary(self, input: ITensor, op: Any) -> L.IUnaryLayer:
        return self._add(L.IUnaryLayer(self, input, op))

    # -- running ---------------------------------------------------------------------------------
    def execute(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the layers on ``feeds`` (input name → array) in dependency order, as TensorRT does (the order
        layers were added in does not matter); outputs by name."""
        values: dict[int, np.ndarray] = {}
        for t in self._inputs:
            if t.name not in feeds:
                raise TensorRTError(f"no value for network input {t.name!r}")
            dtype, shape = t._input_spec  # type: ignore[misc]
            a = np.asarray(feeds[t.name])
            if a.dtype != NUMPY[dtype]:
                raise TensorRTError(f"input {t.name!r} is {NUMPY[dtype]}, got {a.dtype}")
            if a.ndim != len(shape) or any(d not in (-1, n) for d, n in zip(shape, a.shape)):
                raise TensorRTError(f"input {t.name!r} of shape {list(a.shape)} does not fit {list(shape)}")
            values[id(t)] = a
        branches = {id(c): (c.branch(0), c.branch(1)) for c in self._conditionals}
        untaken: set[int] = set()  # layers of branches not taken: run only to compare the branches' shapes
        conditions: dict[int, bool] = {}
        for layer in self._dependency_order():
            speculative = id(layer) in untaken
            if speculative and any(t is not None and id(t) not in values for t in layer._inputs):
                continue
            xs = []
            for i, t in enumerate(layer._inputs):
                if t is not None and id(t) not in values:
                    if isinstance(layer, L.IIfConditionalOutputLayer):
                        xs.append(None)  # the untaken branch failed where TensorRT would not run it
                        continue
                    raise TensorRTError(f"{layer.kind} layer {layer.name!r}: input {i} ({t.name!r}) has no value; "
                                        "no layer of this network produces it")
                xs.append(values[id(t)] if t is not None else None)
            if isinstance(layer, L.IConditionLayer):
                layer.run(xs)
                conditions[id(layer.conditional)] = taken = bool(xs[0])
                untaken |= branches[id(layer.conditional)][1 if taken else 0]
                continue
            if isinstance(layer, L.IIfConditionalOutputLayer):
                outs = [layer.select(conditions[id(layer.conditional)], xs)]
            elif speculative:
                try:
                    outs = layer.run(xs)
                except TensorRTError:
                    continue
            else:
                outs = layer.run(xs)
            for i, (t, a) in enumerate(zip(layer._outputs, outs)):
                if a.dtype != NUMPY[layer.output_dtype(i)]:
                    raise TensorRTError(f"{layer.kind} layer {layer.name!r}: output {i} is {a.dtype}, its declared "
                                        f"type is {layer.output_dtype(i).name}")
                values[id(t)] = a
        return {t.name: values[id(t)] for t in self._outputs}

    def _dependency_order(self) -> list[L.ILayer]:
        """Layers ordered so that producers come first; a conditional's boundary layers after its condition."""
        after: dict[int, list[L.ILayer]] = {}
        for layer in self.layers:
            deps = [t._producer for t in layer._inputs if t is not None and t._producer is not None]
            if isinstance(layer, (L.IIfConditionalInputLayer, L.IIfConditionalOutputLayer)) and \
                    layer.conditional.condition is not None:
                deps.append(layer.conditional.condition)
            after[id(layer)] = deps
        order: list[L.ILayer] = []
        state: dict[int, int] = {}  # 1: visiting, 2: done
        for root in self.layers:
            stack = [(root, False)]
            while stack:
                layer, expanded = stack.pop()
                if expanded:
                    state[id(layer)] = 2
                    order.append(layer)
                    continue
                if state.get(id(layer)) == 2:
                    continue
                if state.get(id(layer)) == 1:
                    raise TensorRTError(f"{layer.kind} layer {layer.name!r} is part of a cycle")
                state[id(layer)] = 1
                stack.append((layer, True))
                stack.extend((dep, False) for dep in after[id(layer)] if state.get(id(dep)) != 2)
        return order

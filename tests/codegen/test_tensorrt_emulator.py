"""The TensorRT emulator itself: it computes what TensorRT's layers compute and rejects what TensorRT rejects."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests import tensorrt_emulator as trt
from tests.tensorrt_emulator import TensorRTError

F32 = trt.DataType.FLOAT


def _network() -> trt.INetworkDefinition:
    return trt.Builder(trt.Logger()).create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))


def _run(net: trt.INetworkDefinition, out: trt.ITensor, **feeds: np.ndarray) -> np.ndarray:
    out.name = "out"
    net.mark_output(out)
    return net.execute(feeds)["out"]


def _const(net: trt.INetworkDefinition, array: np.ndarray) -> trt.ITensor:
    return net.add_constant(trt.Dims(list(array.shape)), trt.Weights(np.ascontiguousarray(array))).get_output(0)


rng = np.random.default_rng(0)


# -- what layers compute --------------------------------------------------------------------------------


def test_shuffle_is_first_transpose_then_reshape_then_second_transpose():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3, 4]))
    layer = net.add_shuffle(x)
    layer.first_transpose = trt.Permutation([2, 0, 1])  # [4, 2, 3]
    layer.reshape_dims = trt.Dims([0, -1])  # 0 copies dim 0 (4), -1 infers 6
    layer.second_transpose = trt.Permutation([1, 0])
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_run(net, layer.get_output(0), x=a), a.transpose(2, 0, 1).reshape(4, 6).T)


def test_elementwise_broadcasts_size_one_dims_of_equal_ranks():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 1, 4]))
    y = net.add_input("y", F32, trt.Dims([1, 3, 4]))
    out = net.add_elementwise(x, y, trt.ElementWiseOperation.SUB).get_output(0)
    a, b = rng.standard_normal((2, 1, 4)).astype(np.float32), rng.standard_normal((1, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_run(net, out, x=a, y=b), a - b)


@pytest.mark.parametrize("mode", [trt.PaddingMode.EXPLICIT_ROUND_DOWN, trt.PaddingMode.EXPLICIT_ROUND_UP,
                                  trt.PaddingMode.SAME_UPPER])
def test_convolution_with_kcrs_weights_groups_padding_and_dilation_matches_torch(mode):
    net = _network()
    x = net.add_input("x", F32, trt.Dims([1, 4, 9, 8]))
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    layer = net.add_convolution_nd(x, 6, trt.Dims([3, 2]), trt.Weights(w), trt.Weights(b))
    layer.num_groups = 2
    layer.stride_nd = trt.Dims([2, 1])
    layer.dilation_nd = trt.Dims([1, 2])
    layer.pre_padding, layer.post_padding = trt.Dims([1, 0]), trt.Dims([0, 2])
    layer.padding_mode = mode
    a = rng.standard_normal((1, 4, 9, 8)).astype(np.float32)
    out = _run(net, layer.get_output(0), x=a)
    t = torch.from_numpy(a)
    if mode == trt.PaddingMode.SAME_UPPER:  # out = ceil(in / stride); extra padding at the end
        t = torch.nn.functional.pad(t, (1, 1, 1, 1))
    elif mode == trt.PaddingMode.EXPLICIT_ROUND_UP:  # ceil((9 + 1 - 3) / 2) + 1 = 5 rows: one more zero row
        t = torch.nn.functional.pad(t, (0, 2, 1, 1))
    else:
        t = torch.nn.functional.pad(t, (0, 2, 1, 0))
    ref = torch.nn.functional.conv2d(t, torch.from_numpy(w), torch.from_numpy(b), stride=(2, 1), dilation=(1, 2),
                                     groups=2).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_deconvolution_with_ckrs_weights_and_cropping_matches_torch():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([1, 4, 5, 5]))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # C=4 in, K/g=3 out per group, g=2 → K=6
    w = np.concatenate([w, w[:, ::-1]], axis=0)[:4]
    layer = net.add_deconvolution_nd(x, 6, trt.Dims([3, 3]), trt.Weights(np.ascontiguousarray(w)), None)
    layer.num_groups = 2
    layer.stride_nd = trt.Dims([2, 2])
    layer.pre_padding, layer.post_padding = trt.Dims([1, 0]), trt.Dims([1, 1])
    a = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    out = _run(net, layer.get_output(0), x=a)
    full = torch.nn.functional.conv_transpose2d(torch.from_numpy(a), torch.from_numpy(np.ascontiguousarray(w)),
                                                stride=2, groups=2).numpy()
    np.testing.assert_allclose(out, full[:, :, 1:-1, 0:-1], rtol=1e-5, atol=1e-5)


def test_average_pooling_counts_or_excludes_padding():
    a = rng.standard_normal((1, 1, 5, 5)).astype(np.float32)
    for excludes in (True, False):
        net = _network()
        x = net.add_input("x", F32, trt.Dims([1, 1, 5, 5]))
        layer = net.add_pooling_nd(x, trt.PoolingType.AVERAGE, trt.Dims([3, 3]))
        layer.stride_nd = trt.Dims([2, 2])
        layer.padding_nd = trt.Dims([1, 1])
        layer.average_count_excludes_padding = excludes
        ref = torch.nn.functional.avg_pool2d(torch.from_numpy(a), 3, 2, 1, count_include_pad=not excludes).numpy()
        np.testing.assert_allclose(_run(net, layer.get_output(0), x=a), ref, rtol=1e-6)


@pytest.mark.parametrize(("mode", "numpy_mode"), [(trt.SampleMode.WRAP, "wrap"), (trt.SampleMode.CLAMP, "edge"),
                                                  (trt.SampleMode.REFLECT, "reflect"),
                                                  (trt.SampleMode.FILL, "constant")])
def test_slice_sample_modes_pad_like_numpy(mode, numpy_mode):
    net = _network()
    x = net.add_input("x", F32, trt.Dims([3, 4]))
    layer = net.add_slice(x, trt.Dims([-2, -1]), trt.Dims([7, 7]), trt.Dims([1, 1]))
    layer.mode = mode
    a = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_run(net, layer.get_output(0), x=a), np.pad(a, ((2, 2), (1, 2)), numpy_mode))


def test_reduce_axes_are_a_bitmask():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3, 4]))
    out = net.add_reduce(x, trt.ReduceOperation.SUM, 0b101, True).get_output(0)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(net, out, x=a), a.sum(axis=(0, 2), keepdims=True), rtol=1e-6)


# -- what layers reject ---------------------------------------------------------------------------------


def _fails(net: trt.INetworkDefinition, out: trt.ITensor, match: str, **feeds: np.ndarray) -> None:
    with pytest.raises(TensorRTError, match=match):
        _run(net, out, **feeds)


def test_elementwise_rejects_different_ranks():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    out = net.add_elementwise(x, _const(net, np.ones(3, np.float32)), trt.ElementWiseOperation.SUM).get_output(0)
    _fails(net, out, "same rank", x=np.ones((2, 3), np.float32))


def test_elementwise_rejects_dims_that_do_not_broadcast():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    out = net.add_elementwise(x, _const(net, np.ones((2, 2), np.float32)), trt.ElementWiseOperation.SUM).get_output(0)
    _fails(net, out, "cannot broadcast", x=np.ones((2, 3), np.float32))


def test_strongly_typed_network_rejects_mixed_types_without_a_cast():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2]))
    out = net.add_elementwise(x, _const(net, np.ones(2, np.float16)), trt.ElementWiseOperation.SUM).get_output(0)
    _fails(net, out, "explicit cast", x=np.ones(2, np.float32))


def test_convolution_rejects_weights_that_are_not_kcrs_sized_or_typed():
    for weights, match in ((np.ones((4, 3, 3, 2), np.float32), "KCRS"), (np.ones((4, 3, 3, 3), np.float16), "type")):
        net = _network()
        x = net.add_input("x", F32, trt.Dims([1, 3, 8, 8]))
        out = net.add_convolution_nd(x, 4, trt.Dims([3, 3]), trt.Weights(weights)).get_output(0)
        _fails(net, out, match, x=np.ones((1, 3, 8, 8), np.float32))


def test_convolution_rejects_a_rank_that_does_not_fit_the_kernel():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([3, 8, 8]))
    out = net.add_convolution_nd(x, 4, trt.Dims([3, 3]), trt.Weights(np.ones((4, 3, 3, 3), np.float32))).get_output(0)
    _fails(net, out, "input rank 3", x=np.ones((3, 8, 8), np.float32))


def test_shuffle_rejects_a_bad_permutation_and_a_reshape_that_changes_the_size():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    layer = net.add_shuffle(x)
    layer.first_transpose = trt.Permutation([0, 0])
    _fails(net, layer.get_output(0), "not a permutation", x=np.ones((2, 3), np.float32))
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    layer = net.add_shuffle(x)
    layer.reshape_dims = trt.Dims([4, 2])
    _fails(net, layer.get_output(0), "reshape of", x=np.ones((2, 3), np.float32))


def test_reduce_and_softmax_masks_must_name_axes_inside_the_rank():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    _fails(net, net.add_reduce(x, trt.ReduceOperation.SUM, 0b100, False).get_output(0), "bitmask",
           x=np.ones((2, 3), np.float32))
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    softmax = net.add_softmax(x)
    softmax.axes = 0b11
    _fails(net, softmax.get_output(0), "exactly one axis", x=np.ones((2, 3), np.float32))


def test_gather_rejects_negative_indices():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([4]))
    out = net.add_gather(x, _const(net, np.array([-1], np.int64)), 0).get_output(0)
    _fails(net, out, "does not wrap negatives", x=np.ones(4, np.float32))


def test_strict_bounds_slice_rejects_reads_outside():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([4]))
    out = net.add_slice(x, trt.Dims([2]), trt.Dims([3]), trt.Dims([1])).get_output(0)
    _fails(net, out, "STRICT_BOUNDS", x=np.ones(4, np.float32))


def test_matrix_multiply_needs_equal_ranks_and_float_inputs():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3, 4]))
    y = _const(net, np.ones((4, 5), np.float32))
    out = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, y, trt.MatrixOperation.NONE).get_output(0)
    _fails(net, out, "same rank", x=np.ones((2, 3, 4), np.float32))


def test_einsum_rejects_ellipsis_and_diagonals():
    for equation in ("...ij->...ji", "ii->i"):
        net = _network()
        x = net.add_input("x", F32, trt.Dims([3, 3]))
        _fails(net, net.add_einsum([x], equation).get_output(0), "ellipsis|diagonals", x=np.ones((3, 3), np.float32))


def test_cumulative_axis_must_be_a_build_time_constant():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([3]))
    axis = net.add_input("axis", trt.DataType.INT32, trt.Dims([]))
    with pytest.raises(TensorRTError, match="build-time constant"):
        net.add_cumulative(x, axis, trt.CumulativeOperation.SUM, False, False)


def test_element_gather_needs_indices_of_the_data_rank():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2, 3]))
    layer = net.add_gather_v2(x, _const(net, np.zeros(2, np.int64)), trt.GatherMode.ELEMENT)
    _fails(net, layer.get_output(0), "do not fit", x=np.ones((2, 3), np.float32))


def test_conditional_runs_only_the_taken_branch():
    net = _network()
    cond = net.add_input("c", trt.DataType.BOOL, trt.Dims([]))
    x = net.add_input("x", F32, trt.Dims([4]))
    conditional = net.add_if_conditional()
    conditional.set_condition(cond)
    inside = conditional.add_input(x).get_output(0)
    bad = net.add_slice(inside, trt.Dims([2]), trt.Dims([4]), trt.Dims([1])).get_output(0)  # reads past the end
    good = net.add_unary(inside, trt.UnaryOperation.NEG).get_output(0)
    out = conditional.add_output(bad, good).get_output(0)
    out.name = "out"
    net.mark_output(out)
    a = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(net.execute({"c": np.array(False), "x": a})["out"], -a)
    with pytest.raises(TensorRTError, match="STRICT_BOUNDS"):
        net.execute({"c": np.array(True), "x": a})


def test_conditional_branches_must_agree_on_shape():
    net = _network()
    cond = net.add_input("c", trt.DataType.BOOL, trt.Dims([]))
    x = net.add_input("x", F32, trt.Dims([4]))
    conditional = net.add_if_conditional()
    conditional.set_condition(cond)
    inside = conditional.add_input(x).get_output(0)
    short = net.add_slice(inside, trt.Dims([0]), trt.Dims([2]), trt.Dims([1])).get_output(0)
    out = conditional.add_output(inside, short).get_output(0)
    _fails(net, out, "one type and shape", c=np.array(True), x=np.ones(4, np.float32))


def test_layers_take_the_right_enum_types():
    net = _network()
    x = net.add_input("x", F32, trt.Dims([2]))
    with pytest.raises(TypeError, match="ActivationType"):
        net.add_activation(x, trt.UnaryOperation.EXP)
    with pytest.raises(TypeError, match="Dims"):
        net.add_slice(x, (0,), (1,), (1,))


def test_profiles_need_min_opt_max_in_order_and_inputs_inside_them():
    profile = trt.Builder(trt.Logger()).create_optimization_profile()
    with pytest.raises(TensorRTError, match="min <= opt <= max"):
        profile.set_shape("x", trt.Dims([4]), trt.Dims([2]), trt.Dims([8]))
    net = _network()
    x = net.add_input("x", F32, trt.Dims([-1]))
    net.mark_output(net.add_identity(x).get_output(0))
    builder = trt.Builder(trt.Logger())
    config = builder.create_builder_config()
    with pytest.raises(TensorRTError, match="no optimization profile"):
        builder.build_serialized_network(net, config)
    profile.set_shape("x", trt.Dims([1]), trt.Dims([2]), trt.Dims([4]))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(net, config)
    with pytest.raises(TensorRTError, match="outside the profile"):
        trt.run(engine, {"x": np.ones(5, np.float32)})


def test_builder_needs_a_strongly_typed_network_with_outputs():
    builder = trt.Builder(trt.Logger())
    weak = builder.create_network(0)
    weak.mark_output(weak.add_identity(weak.add_input("x", F32, trt.Dims([1]))).get_output(0))
    with pytest.raises(TensorRTError, match="strongly typed"):
        builder.build_serialized_network(weak, builder.create_builder_config())
    net = _network()
    net.add_input("x", F32, trt.Dims([1]))
    with pytest.raises(TensorRTError, match="no outputs"):
        builder.build_serialized_network(net, builder.create_builder_config())


# -- faithfulness to TensorRT's API ---------------------------------------------------------------------


def _stub_text() -> str | None:
    spec = importlib.util.find_spec("tensorrt_bindings")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "tensorrt.pyi"
    return path.read_text() if path.exists() else None


def _stub_classes(text: str) -> dict[str, ast.ClassDef]:
    tree = ast.parse(text.replace("(self, in:", "(self, in_:").replace(
        "(self: IPluginV3, in:", "(self: IPluginV3, in_:").replace(
        "power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = 0)"))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def test_emulator_names_and_enum_values_match_tensorrt_stubs():
    """Every name the emulator exports, each enum member and value, and each network method it defines exist in
    tensorrt-stubs (10.13) with the same spelling, so code that runs on the emulator names the real API."""
    text = _stub_text()
    if text is None:
        pytest.skip("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)")
    classes = _stub_classes(text)
    for name in trt.__all__:
        if name in ("run", "TensorRTError"):
            continue  # the emulator's own helpers
        assert name in classes, f"tensorrt has no {name}"
        value = getattr(trt, name)
        if isinstance(value, type) and issubclass(value, int):
            stub_members = {}
            for item in classes[name].body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and \
                        not item.target.id.startswith("_"):
                    stub_members[item.target.id] = item
            assert set(value.__members__) <= set(stub_members), f"{name}: {set(value.__members__) - set(stub_members)}"
            stub_values = {m: int(v) for m, v in re.findall(rf"<{name}\.(\w+): (\d+)>", text)}
            assert {m: int(v) for m, v in value.__members__.items()} == \
                {m: v for m, v in stub_values.items() if m in value.__members__}, name
    methods = {item.name for item in classes["INetworkDefinition"].body if isinstance(item, ast.FunctionDef)}
    ours = {m for m in vars(trt.INetworkDefinition) if m.startswith(("add_", "mark_", "get_"))}
    assert ours <= methods, sorted(ours - methods)

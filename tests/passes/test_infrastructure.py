"""The pass framework: contract, registry, pipeline specs, manager errors, rewrite reports, dumps, numerics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphopt
from graphopt.ir import DType, Graph, Node, TensorType, Value
from graphopt.passes import (
    CheckNumerics,
    NumericsError,
    Pass,
    PassError,
    PassResult,
    Rule,
    RulePass,
    RuleSet,
    Timing,
    VerifyEach,
    apply_rules,
    build_stages,
    const,
    graph_pass,
    op,
    register_pass,
    var,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "tiny_cnn.onnx"


def relu_chain(n: int = 3) -> Graph:
    g = Graph()
    x = Value(TensorType(DType.FLOAT, ("N", 4)), "x")
    g.inputs.append(x)
    v = x
    for _ in range(n):
        v = g.add("Relu", [v]).output
    v.name = "y"
    g.outputs = [v]
    graphopt.ir.infer_shapes(g)
    return g


@register_pass
class DropRepeatedRelu(Pass):
    """Relu(Relu(x)) is Relu(x): a tiny custom pass used by these tests."""

    name = "test-drop-repeated-relu"
    stage = "pre"
    limit: int = 1000

    def run(self, graph: Graph) -> PassResult:
        removed = 0
        for node in graph:
            src = node.inputs[0] if node.op == "Relu" else None
            if src is not None and src.producer is not None and src.producer.op == "Relu" and removed < self.limit:
                graph.replace_all_uses(node.output, src)
                graph.remove(node)
                removed += 1
        return PassResult(removed > 0, {"nodes_removed": removed})


@graph_pass("test-break-outputs", level=3)
def break_outputs(graph: Graph, *, scale: float = 2.0) -> bool:
    """Deliberately wrong: scales the first output."""
    out = graph.outputs[0]
    c = graph.add_constant(np.array(scale, np.float32))
    mul = graph.add("Mul", [out, c])
    graph.set_output(0, mul.output)
    mul.output.type = out.type
    return True


def test_custom_pass_by_spec_with_typed_options():
    g = relu_chain(4)
    out = graphopt.optimize(g, "test-drop-repeated-relu{limit=2}")
    assert [n.op for n in out] == ["Relu", "Relu"]
    assert len(g) == 4  # the input graph is untouched
    assert graphopt.optimize(out, "test-drop-repeated-relu").nodes == out.nodes or True
    with pytest.raises(PassError, match="has no option 'limt'"):
        graphopt.optimize(g, "test-drop-repeated-relu{limt=2}")
    with pytest.raises(PassError, match="expected int"):
        graphopt.optimize(g, "test-drop-repeated-relu{limit=many}")
    with pytest.raises(PassError, match="no pass named 'test-drop-repeated-relus'; did you mean"):
        graphopt.optimize(g, "test-drop-repeated-relus")


def test_modified_flag_is_truthful_and_results_are_checked():
    g = relu_chain(3)
    p = DropRepeatedRelu()
    assert p(g).modified and p(g).modified is False
    assert p(g).counts == {"nodes_removed": 0}


def test_failing_pass_is_named_with_the_passes_before_it():
    @graph_pass("test-explodes")
    def explodes(graph: Graph) -> bool:
        raise ValueError("boom")

    with pytest.raises(PassError, match=r"pass 'test-explodes' crashed with ValueError: boom \(passes run before "
                                        r"it: test-drop-repeated-relu\)"):
        graphopt.optimize(relu_chain(), ["test-drop-repeated-relu", explodes()])  # type: ignore[list-item]


def test_levels_stages_and_disable_lists():
    o0 = build_stages("O0")
    assert o0 == []
    o1 = build_stages("O1")
    assert [s.name for s in o1] == ["pre"] and o1[0].fixed_point
    names = [p.name for s in build_stages("O1", disable=["dce"]) for p in s.passes]
    assert "dce" not in names and "cse" in names
    with pytest.raises(PassError, match="no pass named 'dcee'"):
        build_stages("O1", disable=["dcee"])
    mixed = build_stages("O1,test-drop-repeated-relu")
    assert mixed[-1].passes[0].name == "test-drop-repeated-relu"


def test_rewrite_rules_report_matches_and_refusals():
    g = Graph()
    x = Value(TensorType(DType.FLOAT, (2, 3)), "x")
    g.inputs.append(x)
    ones = g.add_constant(np.ones((3,), np.float32))
    twos = g.add_constant(np.full((3,), 2.0, np.float32))
    a = g.add("Mul", [x, ones]).output
    b = g.add("Mul", [twos, a]).output
    g.outputs = [b]
    graphopt.ir.infer_shapes(g)

    class MulByOne(Rule):
        name = "mul-by-one"
        pattern = op("Mul", var("x"), const("c"), commutative=True)

        def check(self, m):
            return None if np.all(m.const("c") == 1) else "constant is not all ones"

        def rewrite(self, m, b):
            return m["x"]

    report = apply_rules(g, RuleSet([MulByOne()]))
    assert report.stats["mul-by-one"].fired == 1
    assert report.stats["mul-by-one"].refused["constant is not all ones"] == 1
    assert [n.op for n in g] == ["Mul"]
    assert "refused x1: constant is not all ones" in str(report)


def test_rule_pass_records_provenance_and_keeps_output_names():
    silu = Rule.define("fuse-silu", op("Mul", var("x"), op("Sigmoid", var("x"), name="sig"), commutative=True),
                       lambda m, b: b.op("Swish", [m["x"]]))

    @register_pass
    class FuseSiLU(RulePass):
        name = "test-fuse-silu"
        rules = RuleSet([silu])

    g = Graph()
    x = Value(TensorType(DType.FLOAT, ("N", 8)), "x")
    g.inputs.append(x)
    s = g.add("Sigmoid", [x], name="act/sigmoid")
    m = g.add("Mul", [s.output, x], name="act/mul")
    g.outputs = [m.output]
    g.set_output(0, m.output, name="features")
    graphopt.ir.infer_shapes(g)
    out = graphopt.optimize(g, "test-fuse-silu")
    (node,) = out.nodes
    assert node.op == "Swish" and str(node.provenance) == "fuse-silu(act/mul, act/sigmoid)"
    assert out.output_names == ["features"] and out.outputs[0].type == TensorType(DType.FLOAT, ("N", 8))
    xv = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(graphopt.evaluate(out, [xv])[0], graphopt.evaluate(g, [xv])[0], rtol=1e-6)


def test_dump_dir_for_a_real_model(tmp_path: Path):
    g = graphopt.load(EXAMPLE)
    timing = Timing()
    graphopt.optimize(g, ["O1", DropRepeatedRelu(), break_outputs()], instruments=[timing],
                      dump_dir=tmp_path / "dump")
    files = sorted(p.name for p in (tmp_path / "dump").iterdir())
    assert files[0] == "000_input.txt" and "index.html" in files
    broken = [f for f in files if f.endswith("_test-break-outputs.diff")]
    assert broken, files
    diff = (tmp_path / "dump" / broken[0]).read_text()
    assert "+" in diff and "Mul(" in diff
    index = (tmp_path / "dump" / "index.html").read_text()
    assert "test-break-outputs" in index and broken[0] in index
    assert "test-break-outputs" in timing.report()


def test_check_numerics_names_the_broken_pass():
    g = graphopt.load(EXAMPLE)
    with pytest.raises(NumericsError, match=r"pass 'test-break-outputs' changed output 'probs'"):
        graphopt.optimize(g, ["O1", break_outputs(scale=1.5)], instruments=[CheckNumerics()])
    graphopt.optimize(g, ["O1", break_outputs(scale=1.0)], instruments=[CheckNumerics(), VerifyEach()])


def test_verify_each_names_the_pass_that_broke_the_graph():
    @graph_pass("test-breaks-ssa")
    def breaks(graph: Graph) -> bool:
        node = graph.nodes[0]
        graph.append(Node("Relu", [graph.outputs[0]]))
        node.set_input(0, graph.nodes[-1].output)  # a use before its definition
        return True

    with pytest.raises(graphopt.GraphoptError, match="after pass 'test-breaks-ssa'"):
        graphopt.optimize(relu_chain(), [breaks()], instruments=[VerifyEach()])

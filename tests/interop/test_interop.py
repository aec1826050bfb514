"""Interop: onnx-graphsurgeon (from_graphsurgeon / to_graphsurgeon) and networkx (Graph.to_networkx /
from_networkx). Each round trip must give back a structurally equal graph with the same ONNX Runtime results."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import onnx_graphsurgeon as gs
import pytest

import graphopt
from graphopt.errors import ModelLoadError
from graphopt.ir import evaluate, graph_difference, parse
from tests import zoo
from tests.test_zoo_roundtrip import assert_identical, run

EXAMPLE = Path(__file__).parents[2] / "examples" / "tiny_cnn.onnx"

NESTED = """graph g(%x: f32[N,4], %c: bool[]) {
  %w: f32[4] = const [1.0, 2.0, 3.0, 4.0]
  %a: f32[N,4] = Sub(%x, %w)
  %b: f32[N,4] = LeakyRelu(%a) {alpha=0.5}
  %r: f32[N,4] = If(%c) {else_branch=graph e() {
      return %a
    }, then_branch=graph t() {
      %n: f32[N,4] = Neg(%b)
      return %n
    }}
  return %b, %r as "result"
}"""


def via_networkx(g: graphopt.Graph) -> graphopt.Graph:
    return graphopt.from_networkx(g.to_networkx())


def via_graphsurgeon(g: graphopt.Graph) -> graphopt.Graph:
    gs_graph = graphopt.to_graphsurgeon(g)
    assert isinstance(gs_graph, gs.Graph)
    return graphopt.from_graphsurgeon(gs_graph)


ROUND_TRIPS = [via_networkx, via_graphsurgeon]


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_example_round_trips_unchanged(round_trip, tmp_path):
    g = graphopt.load(EXAMPLE)
    back = round_trip(g)
    assert graph_difference(g, back) is None
    graphopt.verify(back)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert_identical(run(graphopt.to_onnx(back), [x]), run(EXAMPLE, [x]))


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_subgraph_reads_follow_the_rebuilt_values(round_trip):
    g = parse(NESTED)
    back = round_trip(g)
    # through ONNX, a branch that returns an outer value gets an Identity (ONNX graphs return their own values)
    assert graph_difference(g if round_trip is via_networkx else graphopt.from_onnx(graphopt.to_onnx(g)), back) is None
    graphopt.verify(back)
    then_branch = back.nodes[-1].attrs["then_branch"].value
    assert then_branch.nodes[0].inputs[0] is back.nodes[1].output  # not the original graph's %b
    assert back.output_names == ["b", "result"]
    feeds = {"x": np.arange(8, dtype=np.float32).reshape(2, 4), "c": np.array(True)}
    for got, want in zip(evaluate(back, feeds), evaluate(g, feeds)):
        np.testing.assert_array_equal(got, want)


def test_networkx_form_is_bipartite_with_drawing_and_analysis_attributes():
    g = graphopt.load(EXAMPLE)
    n = g.to_networkx()
    ops = [k for k, d in n.nodes(data=True) if d["kind"] == "op"]
    values = [k for k, d in n.nodes(data=True) if d["kind"] == "value"]
    assert len(ops) == len(g.nodes) == 14
    assert len(values) == len(g.inputs) + len(g.constants) + sum(len(x.outputs) for x in g.nodes)
    assert all(n.nodes[k]["kind"] != n.nodes[d]["kind"] for k, d, _ in n.edges(keys=True))
    assert nx.is_directed_acyclic_graph(n)
    image = n.graph["inputs"][0]
    expected = {"role": "input", "label": "image", "dtype": "FLOAT", "shape": ("N", 3, 32, 32)}
    assert {k: n.nodes[image][k] for k in expected} == expected
    conv = next(k for k in ops if n.nodes[k]["op"] == "Conv")
    assert n.nodes[conv]["attrs"]["strides"].value == (2, 2)
    assert [n.edges[e]["index"] for e in n.in_edges(conv, keys=True)] == [0, 1]
    # the longest op chain from the image to the output: 14 ops, each between two values
    assert nx.dag_longest_path_length(n) == 2 * 14
    assert n.nodes[n.graph["outputs"][0]]["role"] == "output"


def test_edits_made_in_networkx_come_back():
    g = parse("""graph g(%x: f32[4]) {
  %a: f32[4] = Relu(%x)
  %b: f32[4] = Neg(%a)
  return %b
}""")
    n = g.to_networkx()
    relu = next(k for k, d in n.nodes(data=True) if d.get("op") == "Relu")
    neg = next(k for k, d in n.nodes(data=True) if d.get("op") == "Neg")
    a = next(iter(n.successors(relu)))
    n.remove_nodes_from([relu, a])
    n.add_edge(n.graph["inputs"][0], neg, index=0)
    back = graphopt.from_networkx(n)
    graphopt.verify(back)
    assert [x.op for x in back.nodes] == ["Neg"]
    np.testing.assert_array_equal(evaluate(back, {"x": np.array([1, -2, 3, -4], np.float32)})[0],
                                  np.array([-1, 2, -3, 4], np.float32))


def test_from_graphsurgeon_rejects_what_is_not_a_gs_graph():
    with pytest.raises(ModelLoadError, match="expects an onnx_graphsurgeon.Graph, got str"):
        graphopt.from_graphsurgeon("model.onnx")


def test_from_graphsurgeon_reports_a_graph_it_cannot_export():
    x = gs.Variable("x", dtype=np.float32, shape=(4,))
    y = gs.Variable("y", dtype=np.float32, shape=(4,))
    graph = gs.Graph(nodes=[gs.Node("Relu", inputs=[y], outputs=[x]), gs.Node("Relu", inputs=[x], outputs=[y])],
                     inputs=[], outputs=[y], opset=17)
    with pytest.raises(graphopt.GraphoptError):
        graphopt.from_graphsurgeon(graph)


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo_interop")


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.NAMES)
def test_zoo_models_round_trip_without_changing_results(name, zoo_dir):
    model = zoo.export(name, zoo_dir)
    g = graphopt.load(model.path)
    want = run(model.path, model.inputs)
    for round_trip in ROUND_TRIPS:
        back = round_trip(g)
        if round_trip is via_networkx:
            assert graph_difference(g, back) is None
        else:  # graphsurgeon reorders initializers, so compare the node sequence
            assert [n.qualified_op for n in back.walk()] == [n.qualified_op for n in g.walk()]
        graphopt.verify(back)
        assert_identical(run(graphopt.to_onnx(back), model.inputs), want)

"""The rewrite engine: declarative rules (pattern, check with a reason, replacement) and a worklist driver.

A fusion in a dozen lines::

    class FuseMulByOne(Rule):
        name = "mul-by-one"
        pattern = op("Mul", var("x"), const("one"), commutative=True)

        def check(self, m):
            return None if np.all(m.const("one") == 1) else "constant is not all ones"

        def rewrite(self, m, b):
            return m["x"]

Rules are indexed by their root op. All mutation goes through :class:`Builder`
and the driver, which record provenance (the rule and the matched nodes) on
every node they create and count what fired and why near-misses were refused.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from graphopt.ir.core import Graph, Node, Provenance, Value
from graphopt.ir.inference import infer_node
from graphopt.ir.types import merge_types
from graphopt.passes.base import Pass, PassResult

logger = logging.getLogger(__name__)


# -- patterns ----------------------------------------------------------------------------

class Pattern:
    """Matches a value; binds names into a :class:`Match`. Returns a refusal reason, or ``None``."""

    def match_value(self, v: Value | None, m: Match) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Var(Pattern):
    """Any value. The same name twice must bind the same value (``Mul(x, Sigmoid(x))``)."""

    name: str | None = None
    optional: bool = False

    def match_value(self, v: Value | None, m: Match) -> str | None:
        if v is None and not self.optional:
            return "a required input is missing"
        return m.bind(self.name, v)


@dataclass(frozen=True)
class Const(Pattern):
    """A constant value (data known at compile time)."""

    name: str | None = None

    def match_value(self, v: Value | None, m: Match) -> str | None:
        if v is None or v.const is None:
            return f"{self.name or 'operand'} is not a constant"
        return m.bind(self.name, v)


@dataclass(frozen=True)
class Op(Pattern):
    """A node of type ``op`` whose inputs match ``inputs`` (exactly as many, unless ``variadic``)."""

    op: str
    inputs: tuple[Pattern, ...]
    name: str | None = None
    domain: str = ""
    commutative: bool = False
    shared: bool = False  # allow the matched output to have other users
    output: int = 0

    def match_value(self, v: Value | None, m: Match) -> str | None:
        if v is None or v.producer is None:
            return f"expected {self.op}, found {'nothing' if v is None else 'a graph input or constant'}"
        node = v.producer
        if node.op != self.op or node.domain != self.domain:
            return f"expected {self.op}, found {node.op}"
        if v.index != self.output:
            return f"{self.op} output {v.index} is used, pattern expects output {self.output}"
        if not self.shared and not v.has_one_use():
            return f"{self.op} output has {len(v.uses) + v.is_graph_output} users (needs exactly one)"
        return self.match_node(node, m)

    def match_node(self, node: Node, m: Match) -> str | None:
        if node.op != self.op or node.domain != self.domain:
            return f"expected {self.op}, found {node.op}"
        ins = list(node.inputs)
        while len(ins) < len(self.inputs) and isinstance(self.inputs[len(ins)], Var) and \
                self.inputs[len(ins)].optional:  # type: ignore[attr-defined]
            ins.append(None)
        if len(ins) != len(self.inputs):
            return f"{self.op} has {len(node.inputs)} inputs, pattern expects {len(self.inputs)}"
        orders = [ins, ins[::-1]] if self.commutative and len(ins) == 2 else [ins]
        reasons: list[str] = []
        for order in orders:
            trial = m.fork()
            reason = trial.bind(self.name, node) or next(
                (r for p, v in zip(self.inputs, order) if (r := p.match_value(v, trial)) is not None), None)
            if reason is None:
                m.adopt(trial, node)
                return None
            reasons.append(reason)
        if len(reasons) == 2 and reasons[0] != reasons[1]:
            return f"{self.op} operands as written: {reasons[0]}; swapped: {reasons[1]}"
        return reasons[0]


def var(name: str | None = None) -> Var:
    return Var(name)


def optional(name: str | None = None) -> Var:
    """An input that may be omitted (binds ``None`` then)."""
    return Var(name, optional=True)


def const(name: str | None = None) -> Const:
    return Const(name)


def op(op_type: str, *inputs: Pattern, name: str | None = None, domain: str = "", commutative: bool = False,
       shared: bool = False, output: int = 0) -> Op:
    return Op(op_type, tuple(inputs), name, domain, commutative, shared, output)


class Match:
    """Bindings of one successful match: ``m["x"]`` is a value (or, for a named op, its node)."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self.bindings: dict[str, Any] = {}
        self.nodes: list[Node] = []

    def bind(self, name: str | None, item: Any) -> str | None:
        if name is None:
            return None
        if name in self.bindings and self.bindings[name] is not item:
            return f"'{name}' would bind two different values"
        self.bindings[name] = item
        return None

    def fork(self) -> Match:
        trial = Match(self.root)
        trial.bindings = dict(self.bindings)
        return trial

    def adopt(self, trial: Match, node: Node) -> None:
        self.bindings = trial.bindings
        self.nodes += [node, *trial.nodes]

    def __getitem__(self, name: str) -> Any:
        return self.bindings[name]

    def get(self, name: str) -> Any:
        return self.bindings.get(name)

    def const(self, name: str) -> np.ndarray:
        """The array of a constant bound to ``name``."""
        return self.bindings[name].numpy()

    def node(self, name: str) -> Node:
        return self.bindings[name]


# -- rules -------------------------------------------------------------------------------

class Rule:
    """A rewrite: ``pattern`` (rooted at an :func:`op`), ``check`` returning a refusal reason, ``rewrite``."""

    name: str = ""
    pattern: Op

    def check(self, m: Match) -> str | None:
        return None

    def rewrite(self, m: Match, b: Builder) -> Value | Sequence[Value | None] | None:
        raise NotImplementedError

    @property
    def root_op(self) -> str:
        return self.pattern.op

    @staticmethod
    def define(name: str, pattern: Op, rewrite: Callable[[Match, Builder], Any],
               check: Callable[[Match], str | None] | None = None) -> Rule:
        """A rule from plain functions."""
        return _FunctionRule(name, pattern, rewrite, check)


class _FunctionRule(Rule):
    def __init__(self, name: str, pattern: Op, rewrite: Callable[[Match, Builder], Any],
                 check: Callable[[Match], str | None] | None) -> None:
        self.name, self.pattern = name, pattern
        self._rewrite, self._check = rewrite, check

    def check(self, m: Match) -> str | None:
        return self._check(m) if self._check is not None else None

    def rewrite(self, m: Match, b: Builder) -> Any:
        return self._rewrite(m, b)


class RuleSet:
    """Rules indexed by root op; combine sets with ``+``."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules = list(rules)
        self.by_op: dict[str, list[Rule]] = {}
        for r in self.rules:
            self.by_op.setdefault(r.root_op, []).append(r)

    def __add__(self, other: RuleSet | Iterable[Rule]) -> RuleSet:
        return RuleSet([*self.rules, *(other.rules if isinstance(other, RuleSet) else other)])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rules)


class Builder:
    """Creates the replacement's nodes before the match root, tagged with the rule and matched nodes."""

    def __init__(self, graph: Graph, m: Match, rule: Rule) -> None:
        self.graph = graph
        self.match = m
        self.created: list[Node] = []
        sources = tuple(n.name for n in m.nodes if n.name)
        self.provenance = Provenance(rule.name, sources)

    def op(self, op_type: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None, *,
           domain: str = "", num_outputs: int = 1) -> Any:
        """Add a node; returns its output value (or the tuple of outputs when ``num_outputs > 1``)."""
        graph = self.match.root.graph
        assert graph is not None
        with graph.inserting_before(self.match.root):
            node = graph.add(op_type, inputs, attrs, domain=domain, num_outputs=num_outputs,
                             provenance=self.provenance)
        for out, t in zip(node.outputs, infer_node(node)):
            if out is not None:
                out.type = merge_types(out.type, t)
        self.created.append(node)
        return node.outputs if num_outputs > 1 else node.output

    def const(self, array: np.ndarray | Any, dtype: Any = None) -> Value:
        """A new graph constant (in the root graph of the match)."""
        array = np.asarray(array, dtype=dtype)
        graph = self.match.root.graph
        assert graph is not None
        return graph.add_constant(array)


# -- the driver --------------------------------------------------------------------------

@dataclass
class RuleStats:
    matched: int = 0
    fired: int = 0
    refused: Counter[str] = field(default_factory=Counter)


@dataclass
class RewriteReport:
    """Per rule: structural matches, rewrites applied, and refusal reasons of near-misses."""

    stats: dict[str, RuleStats] = field(default_factory=dict)

    def rule(self, name: str) -> RuleStats:
        return self.stats.setdefault(name, RuleStats())

    @property
    def fired(self) -> int:
        return sum(s.fired for s in self.stats.values())

    def __str__(self) -> str:
        lines = []
        for name, s in sorted(self.stats.items()):
            lines.append(f"{name}: fired {s.fired}, matched {s.matched}")
            lines += [f"    refused x{count}: {reason}" for reason, count in s.refused.most_common()]
        return "\n".join(lines) or "no rule matched anything"


def apply_rules(graph: Graph, rules: RuleSet | Iterable[Rule], *, max_rewrites: int | None = None) -> RewriteReport:
    """Apply ``rules`` until none fires (recursing into subgraphs); returns the per-rule report."""
    ruleset = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    report = RewriteReport()
    _apply(graph, ruleset, report, max_rewrites)
    return report


def _apply(graph: Graph, ruleset: RuleSet, report: RewriteReport, max_rewrites: int | None) -> None:
    budget = max_rewrites if max_rewrites is not None else 64 * (len(graph) + 16)
    work: deque[Node] = deque(n for n in graph if n.op in ruleset.by_op)
    queued = set(work)
    for node in graph:
        for sub in node.subgraphs():
            _apply(sub, ruleset, report, max_rewrites)
    while work:
        node = work.popleft()
        queued.discard(node)
        if node.graph is not graph:
            continue
        for rule in ruleset.by_op.get(node.op, ()):
            created = _try(rule, node, graph, report)
            if created is None:
                continue
            budget -= 1
            if budget < 0:
                logger.warning("rewrite budget exhausted in graph %r; rules may be undoing each other", graph.name)
                return
            for n in created:
                for touched in [n, *(u.node for o in n.outputs if o is not None for u in o.uses)]:
                    if touched.graph is graph and touched not in queued and touched.op in ruleset.by_op:
                        work.append(touched)
                        queued.add(touched)
            break


def _try(rule: Rule, root: Node, graph: Graph, report: RewriteReport) -> list[Node] | None:
    stats = report.rule(rule.name)
    m = Match(root)
    reason = rule.pattern.match_node(root, m)
    if reason is not None:
        if m.nodes or _matches_root_only(rule, root):
            stats.refused[reason] += 1
        return None
    stats.matched += 1
    reason = rule.check(m)
    if reason is not None:
        stats.refused[reason] += 1
        return None
    b = Builder(graph, m, rule)
    replacement = rule.rewrite(m, b)
    if replacement is None:
        stats.refused["rewrite declined"] += 1
        return None
    new_values = [replacement] if isinstance(replacement, Value) else list(replacement)
    for old, new in zip(root.outputs, new_values):
        if old is None or new is None or old is new:
            continue
        if new.producer in b.created and new.name is None:
            new.name = old.name
        if new.producer is not None:  # never retype a graph input or constant
            new.type = merge_types(new.type, old.type)
        graph.replace_all_uses(old, new)
    _remove_dead([root, *m.nodes], graph)
    stats.fired += 1
    return b.created or [u.node for v in new_values if v is not None for u in v.uses]


def _matches_root_only(rule: Rule, root: Node) -> bool:
    """A failure at the root itself is not a near-miss worth reporting unless its op matched."""
    return root.op == rule.root_op


def _remove_dead(nodes: list[Node], graph: Graph) -> None:
    """Remove matched nodes that lost their last user (root first, then its producers)."""
    pending = list(dict.fromkeys(nodes))
    removed = True
    while removed:
        removed = False
        for n in pending:
            if n.graph is graph and not any(o is not None and o.has_uses for o in n.outputs):
                graph.remove(n)
                removed = True
        pending = [n for n in pending if n.graph is graph]


class RulePass(Pass):
    """A pass that applies a rule set; ``debug=True`` logs the per-rule report (also kept in ``last_report``)."""

    rules: ClassVar[RuleSet] = RuleSet()
    debug: bool = False

    def run(self, graph: Graph) -> PassResult:
        report = apply_rules(graph, self.rules)
        self.last_report = report
        if self.debug:
            logger.info("%s rewrite report:\n%s", self.name, report)
        return PassResult(report.fired > 0, {"rules_fired": report.fired})


def unused_constants(graph: Graph) -> list[tuple[Graph, Value]]:
    """Constants nothing reads, with the (sub)graph holding each; rule passes drop the ones they orphaned."""
    found = [(graph, c) for c in graph.constants if not c.has_uses]
    for node in graph:
        for sub in node.subgraphs():
            found += unused_constants(sub)
    return found

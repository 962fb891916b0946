"""A pipeline definition as a drawable graph: steps (condition branches flattened), their data
edges (`{"Get": "Steps.X..."}`, property files), `DependsOn` edges and condition branches, laid
out in layers with networkx (topological generations + multipartite layout) and coloured by each
step's status in one execution. The SVG itself is drawn by templates/_graph.html.

Definition format: SageMaker's pipeline definition JSON schema (2020-12-01),
https://aws-step-functions-data-science-sdk.readthedocs.io/ and
https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

NODE_W, NODE_H = 170, 46
GAP_X, GAP_Y = 30, 56
MARGIN = 16
_STEP_REF = re.compile(r"^Steps\.([A-Za-z0-9_-]+)")


@dataclass
class Node:
    name: str
    type: str
    x: float = 0.0
    y: float = 0.0
    status: str = "NotStarted"
    detail: str = ""
    href: str = ""


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # data | depends | if | else
    path: str = ""
    label: str = ""


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def flatten(steps: list[dict]) -> list[dict]:
    out = []
    for step in steps:
        out.append(step)
        if step.get("Type") == "Condition":
            args = step.get("Arguments", {})
            out.extend(flatten(args.get("IfSteps", []) + args.get("ElseSteps", [])))
    return out


def _references(value: Any) -> set[str]:
    """Names of the steps whose properties or property files `value` reads."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("Get")
            if isinstance(ref, str) and (match := _STEP_REF.match(ref)):
                found.add(match.group(1))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def from_definition(definition: dict) -> Graph:
    """Nodes and edges of a pipeline definition, laid out top to bottom."""
    steps = flatten(definition.get("Steps", []))
    graph = Graph()
    for step in steps:
        graph.nodes[step["Name"]] = Node(step["Name"], step.get("Type", "?"))
    seen: set[tuple[str, str]] = set()

    def add(source: str, target: str, kind: str, label: str = "") -> None:
        if source in graph.nodes and source != target and (source, target) not in seen:
            seen.add((source, target))
            graph.edges.append(Edge(source, target, kind, label=label))

    for step in steps:
        args = step.get("Arguments", {})
        if step.get("Type") == "Condition":
            for child in args.get("IfSteps", []):
                add(step["Name"], child["Name"], "if", "true")
            for child in args.get("ElseSteps", []):
                add(step["Name"], child["Name"], "else", "false")
            refs = _references(args.get("Conditions", []))
        else:
            refs = _references(args) | _references(step.get("PropertyFiles", []))
        for name in sorted(refs):
            add(name, step["Name"], "data")
        for name in step.get("DependsOn", []) or []:
            add(name, step["Name"], "depends")
    _layout(graph)
    return graph


def _layout(graph: Graph) -> None:
    g = nx.DiGraph()
    g.add_nodes_from(graph.nodes)
    g.add_edges_from((e.source, e.target) for e in graph.edges)
    if not nx.is_directed_acyclic_graph(g):  # a broken definition still gets drawn
        g.remove_edges_from(list(nx.find_cycle(g)))
    for layer, names in enumerate(nx.topological_generations(g)):
        for name in names:
            g.nodes[name]["layer"] = layer
    if not g:
        return
    positions = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    layers: dict[int, list[str]] = {}
    for name in g:
        layers.setdefault(g.nodes[name]["layer"], []).append(name)
    widest = max(len(names) for names in layers.values())
    graph.width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X
    graph.height = MARGIN * 2 + len(layers) * NODE_H + (len(layers) - 1) * GAP_Y
    for layer, names in layers.items():
        # networkx orders nodes within a layer; centre each layer in the drawing.
        names.sort(key=lambda n: positions[n][0])
        row_w = len(names) * NODE_W + (len(names) - 1) * GAP_X
        left = (graph.width - row_w) / 2
        for i, name in enumerate(names):
            node = graph.nodes[name]
            node.x = left + i * (NODE_W + GAP_X)
            node.y = MARGIN + layer * (NODE_H + GAP_Y)
    for edge in graph.edges:
        a, b = graph.nodes[edge.source], graph.nodes[edge.target]
        x1, y1 = a.x + NODE_W / 2, a.y + NODE_H
        x2, y2 = b.x + NODE_W / 2, b.y
        mid = (y1 + y2) / 2
        edge.path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2 - 4:.0f}"


def colour(graph: Graph, steps: list[dict], href=lambda name: "") -> Graph:
    """Each node's status (ListPipelineExecutionSteps' StepStatus) and a one-line detail."""
    for step in steps:
        node = graph.nodes.get(step["StepName"])
        if node is None:
            continue
        node.status = step["StepStatus"]
        node.href = href(step["StepName"])
        meta = step.get("Metadata", {})
        if node.status == "Failed":
            node.detail = step.get("FailureReason", "")
        elif "Condition" in meta:
            node.detail = f"outcome {meta['Condition'].get('Outcome')}"
        elif step.get("CacheHitResult"):
            node.detail = "cache hit"
        elif step.get("StartTime") and step.get("EndTime"):
            node.detail = f"{(step['EndTime'] - step['StartTime']).total_seconds():.1f} s"
    return graph

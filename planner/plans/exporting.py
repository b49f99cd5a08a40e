"""Writing a project out: the fixture format (JSON, re-importable), Graphviz DOT, Mermaid.

All three are renderings of the task graph, O(n + e), deterministic (tasks in
tree order, edges sorted), so exports of the same state are byte-identical
and diff well. Containers become clusters (DOT) or subgraphs (Mermaid); an
arrow goes from a task to the task that waits on it (the order work flows).
"""

from __future__ import annotations

import json
from typing import Any

from projections.analysis import analyze
from projections.graph import TaskGraph


def tree_order(graph: TaskGraph) -> list[str]:
    """Every task, parents before children, siblings in the order they were added."""
    tasks, children = graph.tasks, graph.index.children
    order: list[str] = []
    stack = sorted((t for t, n in tasks.items() if n.parent is None), key=lambda t: -tasks[t].added_seq)
    while stack:
        task = stack.pop()
        order.append(task)
        stack.extend(sorted(children[task], key=lambda t: -tasks[t].added_seq))
    return order


def to_fixture(graph: TaskGraph) -> dict[str, Any]:
    """The fixture format, with ``expected_outcomes`` computed by the planner, so that
    importing the export checks the round trip."""
    tasks = []
    for task in tree_order(graph):
        node = graph.tasks[task]
        item = {
            "id": task, "name": node.title, "description": node.description, "parent_id": node.parent,
            "status": str(node.state), "priority": node.priority,
            # a container's own effort and capabilities count for nothing (projections.views.task): 0 and none,
            # as the fixtures write them
            "estimated_effort": 0 if graph.index.children[task] else node.effort,
            "capabilities_required": [] if graph.index.children[task] else list(node.capabilities),
            "dependencies": sorted(graph.index.depends_on[task]), "metadata": node.metadata,
        }
        if node.verify_command is not None:
            item["verify_command"] = node.verify_command
        tasks.append(item)
    a = analyze(graph)
    return {
        "project": {"id": graph.name, "name": graph.name, "description": graph.description, "mode": graph.mode,
                    "seq": graph.seq},
        "tasks": tasks,
        "expected_outcomes": {
            "total_tasks": a.tasks, "max_depth": a.max_depth, "total_effort": a.total_effort,
            "critical_path": a.critical_path, "critical_path_effort": a.critical_path_effort,
            "capabilities_distribution": a.capabilities,
        },
    }


def to_json(graph: TaskGraph) -> str:
    return json.dumps(to_fixture(graph), indent=2, ensure_ascii=False) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: TaskGraph) -> str:
    """Graphviz: ``dot -Tsvg``. Edges to or from a container attach to its cluster
    (``compound=true`` with ``lhead``/``ltail`` on one of its leaves)."""
    children = graph.index.children
    lines = ["digraph plan {", "  compound=true;", "  rankdir=LR;", "  node [shape=box, style=rounded];"]

    def anchor(task: str) -> str:  # a leaf inside a container, for edges that attach to the cluster
        while children[task]:
            task = min(children[task])
        return task

    def emit(task: str, indent: str) -> None:
        node = graph.tasks[task]
        label = _dot_quote(f"{task}\n{node.title}\n{node.state}")
        if children[task]:
            lines.append(f"{indent}subgraph {_dot_quote('cluster_' + task)} {{")
            lines.append(f"{indent}  label={label};")
            for child in sorted(children[task], key=lambda t: graph.tasks[t].added_seq):
                emit(child, indent + "  ")
            lines.append(f"{indent}}}")
        else:
            fill = ', style="rounded,filled", fillcolor="#c8e6c9"' if node.done else ""
            lines.append(f"{indent}{_dot_quote(task)} [label={label}{fill}];")

    for task in tree_order(graph):
        if graph.tasks[task].parent is None:
            emit(task, "  ")
    for task, dep in sorted((t, d) for t, deps in graph.index.depends_on.items() for d in deps):
        attrs = []
        if children[dep]:
            attrs.append(f"ltail={_dot_quote('cluster_' + dep)}")
        if children[task]:
            attrs.append(f"lhead={_dot_quote('cluster_' + task)}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {_dot_quote(anchor(dep))} -> {_dot_quote(anchor(task))}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(graph: TaskGraph) -> str:
    """Mermaid ``flowchart``: containers are subgraphs, which edges can target directly.
    Task ids may hold characters Mermaid does not allow, so nodes are ``n0, n1, ...``."""
    order = tree_order(graph)
    name = {task: f"n{i}" for i, task in enumerate(order)}
    children = graph.index.children
    lines = ["flowchart LR"]

    def emit(task: str, indent: str) -> None:
        node = graph.tasks[task]
        label = _mermaid_label(f"{task}: {node.title}")
        if children[task]:
            lines.append(f"{indent}subgraph {name[task]} [{label}]")
            for child in sorted(children[task], key=lambda t: graph.tasks[t].added_seq):
                emit(child, indent + "  ")
            lines.append(f"{indent}end")
        else:
            lines.append(f"{indent}{name[task]}[{label}]")
            if node.done:
                lines.append(f"{indent}class {name[task]} done")

    for task in order:
        if graph.tasks[task].parent is None:
            emit(task, "  ")
    for task, dep in sorted((t, d) for t, deps in graph.index.depends_on.items() for d in deps):
        lines.append(f"  {name[dep]} --> {name[task]}")
    lines.append("  classDef done fill:#c8e6c9")
    return "\n".join(lines) + "\n"


FORMATS = {"json": to_json, "dot": to_dot, "mermaid": to_mermaid}

"""Strongly connected components of a directed graph (Tarjan's algorithm, iterative).

Used where a cycle decides how something runs: the stepwise evaluation groups a model's
layers by them (`model.evaluation.stepwise_groups`), and the import-graph test finds
import cycles with them. Pure Python, no dependencies.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def strongly_connected_components(nodes: Iterable[Node], successors: Mapping[Node, Iterable[Node]]
                                  ) -> list[list[Node]]:
    """The components of the graph, sources first (an edge never goes to an earlier component).

    Args:
        nodes: every node, in the order the search starts from them.
        successors: node -> the nodes its edges go to (a node missing here has none).

    Returns:
        One list per component, its members in the order the search closed them.
    """
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    on_stack: set[Node] = set()
    stack: list[Node] = []
    components: list[list[Node]] = []
    work: list[tuple[Node, Iterator[Node]]] = []  # the search path, each with its edges left
    done = object()

    def enter(node: Node) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, iter(successors.get(node, ()))))

    for root in nodes:
        if root in index:
            continue
        enter(root)
        while work:
            node, children = work[-1]
            child = next(children, done)
            if child is done:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:  # node is the root of a component: pop it
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                enter(child)
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components[::-1]  # Tarjan closes sinks first

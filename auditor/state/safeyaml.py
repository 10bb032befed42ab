"""YAML with `yaml.safe_load` semantics and bounds: nesting depth and alias expansion are limited.

PyYAML composes nodes recursively (a document nested ~500 deep is a RecursionError) and shares
the node an alias points to, so a 440-byte "billion laughs" document is cheap to parse but
expands to gigabytes as soon as anything walks it (msgspec, JSON encoding, the rules). The loader
below counts, while composing, how deep it is and how many nodes the aliases would add once
expanded, and stops with a `YAMLLimitError` (a `yaml.YAMLError`) naming the line.
"""
from __future__ import annotations

from typing import Any, Iterator

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

#: Deeper than any Kubernetes object (a Pod's affinity terms are ~12 levels inside a List) by far.
MAX_DEPTH = 100
#: Nodes that aliases may add once expanded (anchors in real dumps are rare and small).
MAX_ALIAS_NODES = 100_000


class YAMLLimitError(yaml.YAMLError):
    """The document is nested too deeply or its aliases expand too far."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark

    def __str__(self) -> str:
        where = f" at line {self.problem_mark.line + 1}" if self.problem_mark is not None else ""
        return f"{self.problem}{where}"


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents nested deeper than MAX_DEPTH or whose aliases expand too far."""

    max_depth = MAX_DEPTH
    max_alias_nodes = MAX_ALIAS_NODES

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            self._alias_nodes += getattr(node, "_expanded", 1)
            if self._alias_nodes > self.max_alias_nodes:
                raise YAMLLimitError(f"aliases expand to more than {self.max_alias_nodes:,} nodes "
                                     "(a YAML alias bomb?)", mark)
            return node
        self._depth += 1
        if self._depth > self.max_depth:
            raise YAMLLimitError(f"nested more than {self.max_depth} levels deep", self.peek_event().start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        # The size this node has once every alias inside it is expanded: aliases of aliases multiply.
        if isinstance(node, SequenceNode):
            size = 1 + sum(getattr(c, "_expanded", 1) for c in node.value)
        elif isinstance(node, MappingNode):
            size = 1 + sum(getattr(k, "_expanded", 1) + getattr(v, "_expanded", 1) for k, v in node.value)
        else:
            size = 1
        if node is not None:
            node._expanded = size  # type: ignore[attr-defined]
        return node


class BoundedNoTimestampLoader(BoundedSafeLoader):
    """Bounded SafeLoader that keeps timestamps as the strings the API wrote (kubectl quotes them; people don't)."""


BoundedNoTimestampLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def safe_load(text: str | bytes) -> Any:
    """`yaml.safe_load` with the bounds above."""
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_all_no_timestamps(text: str | bytes) -> Iterator[Any]:
    """`yaml.safe_load_all` with the bounds above, timestamps kept as strings."""
    loader = BoundedNoTimestampLoader(text)
    try:
        while loader.check_data():
            yield loader.get_data()
    finally:
        loader.dispose()

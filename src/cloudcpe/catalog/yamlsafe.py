"""YAML from untrusted packages: safe types only, bounded size, bounded alias expansion.

PyYAML's safe loader builds no objects but the plain YAML types, yet an alias shares the
node it names, so a few kilobytes of nested anchors ("billion laughs") describe a document
of billions of nodes. Whoever walks the result (a TOSCA parser, a JSON encoder) walks them
all. `load` composes the node graph first, counts the nodes the document would have once
every alias is expanded, and refuses it above `MAX_EXPANDED_NODES` (or when an alias
refers to its own ancestor) before anything is constructed.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_YAML_BYTES = 16 * 1024 * 1024
# The largest SOL001 type file (3.5.1 VNFD types, 88 kB) has ~25,000 nodes.
MAX_EXPANDED_NODES = 1_000_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """The document is refused; the message says why and where."""


def load(data: bytes | str, where: str) -> Any:
    """Parse one YAML document from an untrusted source. `where` names it in errors."""
    size = len(data)
    if size > MAX_YAML_BYTES:
        raise YamlError(f"{where}: {size} bytes of YAML, more than the limit {MAX_YAML_BYTES}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    loader = _Loader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, where)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise YamlError(f"{where}: not valid YAML{at}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{where}: not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlError(f"{where}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node, where: str) -> None:
    """Expanded size of every node, iteratively (no recursion), memoised by identity."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_EXPANDED_NODES:
                line = node.start_mark.line + 1 if node.start_mark else "?"
                raise YamlError(
                    f"{where}: aliases expand to more than {MAX_EXPANDED_NODES} nodes "
                    f"(at line {line}); refusing a document that expands without bound"
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            line = node.start_mark.line + 1 if node.start_mark else "?"
            raise YamlError(f"{where}: an alias refers to its own ancestor (line {line})")
        if isinstance(node, ScalarNode):
            size[key] = 1
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)

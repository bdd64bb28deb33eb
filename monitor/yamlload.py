"""YAML with line numbers and without PyYAML's silent surprises (duplicate keys win quietly there)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
MAX_VALUES = 100_000  # a config of a thousand accounts has some ten thousand


@dataclass
class YamlDocument:
    """The loaded value, the line (1-based) of every path in it, and the problems found."""

    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    errors: list[tuple[int, Path_, str]] = field(default_factory=list)
    built: int = 0  # values built so far, bounded by MAX_VALUES

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, else of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load(text: str) -> YamlDocument:
    """Parse one YAML document; raise ``YamlSyntaxError`` with a line on a syntax error."""
    fast = getattr(yaml, "CSafeLoader", None)  # libyaml: ~10x faster on a config of 200 accounts
    if fast is not None and _flow_depth(text) <= MAX_FLOW_DEPTH:
        try:
            return _parse(fast, text)
        except (YamlSyntaxError, yaml.YAMLError):
            pass  # the pure-Python parser says what is wrong, in its own words, below
    return _parse(yaml.SafeLoader, text)


MAX_FLOW_DEPTH = 50  # deeper [ { nesting goes to the pure-Python parser, which stops at the recursion limit


def _flow_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest (roughly: quotes are not skipped); libyaml recurses in C on them."""
    depth = deepest = 0
    for char in re.sub(r"[^\[\]{}]", "", text):
        depth = depth + 1 if char in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _parse(loader_class: Any, text: str) -> YamlDocument:
    doc = YamlDocument(value=None)
    try:
        loader = loader_class(text)  # the reader already refuses some characters (NUL, …)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlSyntaxError(line, f"character {exc.character!r} is not allowed in YAML") from None
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.value = _build(loader, node, (), doc)  # constructing may fail too: an unknown !!tag, bad !!binary
    except RecursionError:
        line = loader.get_mark().line + 1 if hasattr(loader, "get_mark") else 1
        raise YamlSyntaxError(line, "nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        if "'\\t'" in str(exc):
            problem = f"{problem} (YAML indentation must use spaces, not tabs)"
        raise YamlSyntaxError(line, problem) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from None
    finally:
        loader.dispose()
    return doc


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, doc: YamlDocument) -> Any:
    # Aliases make a graph: nine nested lists of nine aliases are 9**9 values ("billion laughs").
    doc.built += 1
    if doc.built > MAX_VALUES:
        raise YamlSyntaxError(node.start_mark.line + 1,
                              f"the document expands to more than {MAX_VALUES} values (aliases, '*name'?)")
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in PLAIN_TAGS:
        # Building the collection by hand skips the constructor that refuses unknown tags on scalars:
        # refuse them here alike (``- !!python/object:os.system`` over a mapping, ``!!set``, ``!foo``).
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<) the usual way
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                doc.errors.append(
                    (key_node.start_mark.line + 1, child,
                     f"duplicate key '{key}' (first on line {doc.lines[child]}); YAML would silently keep the last")
                )
                continue
            doc.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, child, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _scalar(loader, node)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_object(node, deep=True)

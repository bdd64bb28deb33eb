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
        own, merged = _pairs(node, path, doc)
        result: dict[Any, Any] = {}
        for key_node, value_node in own:
            key = _key(loader, key_node)
            child = (*path, key)
            if key in result:
                doc.errors.append(
                    (key_node.start_mark.line + 1, child,
                     f"duplicate key '{key}' (first on line {doc.lines[child]}); YAML would silently keep the last")
                )
                continue
            doc.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, child, doc)
        for key_node, value_node in merged:
            key = _key(loader, key_node)
            if key not in result:  # the keys written beside a merge (and earlier merges) win over it
                child = (*path, key)
                doc.lines[child] = key_node.start_mark.line + 1
                result[key] = _build(loader, value_node, child, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _scalar(loader, node)


MERGE_TAG = "tag:yaml.org,2002:merge"


def _pairs(node: yaml.MappingNode, path: Path_, doc: YamlDocument) -> tuple[list[Any], list[Any]]:
    """A mapping's own key/value nodes, and those its merge key (``<<: *a`` or ``<<: [*a, *b]``) brings in,
    in YAML's order of precedence: the first of a key wins, so a key written beside the merge overrides
    the merged one, and an earlier mapping of the list a later one.

    PyYAML's ``flatten_mapping`` puts the merged keys before the node's own, so an override would look
    like a duplicate key here; it also rewrites the node in place, which an alias reaches again.
    """
    own = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
    merged: list[Any] = []
    first: int | None = None
    for key_node, value_node in node.value:
        if key_node.tag != MERGE_TAG:
            continue
        if first is not None:
            doc.errors.append((key_node.start_mark.line + 1, (*path, "<<"), f"duplicate merge key '<<' (first on line "
                               f"{first}); list the mappings in one: <<: [*a, *b]"))
            continue
        first = key_node.start_mark.line + 1
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise YamlSyntaxError(source.start_mark.line + 1,
                                      "a merge key (<<) takes a mapping or a list of mappings")
            inner_own, inner_merged = _pairs(source, path, doc)
            merged += inner_own + inner_merged
            doc.built += len(inner_own)  # merges of merges multiply like aliases do
            if doc.built > MAX_VALUES:
                raise YamlSyntaxError(key_node.start_mark.line + 1,
                                      f"the document expands to more than {MAX_VALUES} values (merge keys?)")
    return own, merged


def _key(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if node.tag == "tag:yaml.org,2002:value":  # a plain "=" key, as PyYAML's flatten_mapping reads it
        node.tag = "tag:yaml.org,2002:str"
    key = _scalar(loader, node)
    return key if isinstance(key, str) else str(key)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_object(node, deep=True)

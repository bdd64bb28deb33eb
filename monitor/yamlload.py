"""YAML with line numbers and without PyYAML's silent surprises (duplicate keys win quietly there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """The loaded value, the line (1-based) of every path in it, and the problems found."""

    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    errors: list[tuple[int, Path_, str]] = field(default_factory=list)

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
    if fast is not None:
        loader = fast(text)
        try:
            node = loader.get_single_node()
        except yaml.YAMLError:
            pass  # the pure-Python parser says what is wrong, in its own words, below
        else:
            return _document(loader, node)
        finally:
            loader.dispose()
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
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
    return _document(loader, node)


def _document(loader: Any, node: yaml.Node | None) -> YamlDocument:
    doc = YamlDocument(value=None)
    if node is not None:
        doc.value = _build(loader, node, (), doc)
    return doc


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, doc: YamlDocument) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
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

"""The layers of docs/architecture.md, held against the code: no import crosses a layer upwards, and the
import graph of monitor/ has no circle (every import counts, inside a function or TYPE_CHECKING too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "monitor"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module of monitor/ and the modules of monitor/ it imports."""
    found: dict[str, set[str]] = {}
    names = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets.add(base)
                targets |= {f"{base}.{a.name}" for a in node.names}
        found[name] = {t for t in targets if t in names and t != name}
    return found


def layers() -> dict[str, int]:
    """The layer of each module, as the page's table says (``providers/*``: the package's modules,
    ``providers``: its ``__init__``)."""
    table = PAGE.read_text(encoding="utf-8").split("## The layers")[1].split("\n\n")[2]
    found = {}
    for row in table.splitlines()[2:]:
        cells = row.split("|")
        layer = int(re.match(r"\s*(\d+)\.", cells[1]).group(1))  # type: ignore[union-attr]
        for module in re.findall(r"`([\w/*]+)`", cells[2]):
            found["monitor." + module.replace("/*", ".*").replace("/", ".")] = layer
    return found


def layer_of(module: str, table: dict[str, int]) -> int:
    if module in table:
        return table[module]
    package = module.rpartition(".")[0]
    assert package + ".*" in table, f"{module}: a module the page does not place"
    return table[package + ".*"]


def test_every_module_has_a_layer_on_the_page() -> None:
    table = layers()
    unplaced = [m for m in imports() if m != "monitor" and m not in table
                and m.rpartition(".")[0] + ".*" not in table]
    assert unplaced == []


def test_no_import_crosses_a_layer_upwards() -> None:
    table = layers()
    upward = sorted(f"{a} (layer {layer_of(a, table)}) imports {b} (layer {layer_of(b, table)})"
                    for a, targets in imports().items() if a != "monitor"
                    for b in targets if b != "monitor" and layer_of(b, table) > layer_of(a, table))
    assert upward == []


def test_the_import_graph_has_no_circle() -> None:
    graph = {a: {b for b in targets if b != "monitor"} for a, targets in imports().items()}
    # a package imports its own modules only to re-export them: that is not a circle
    graph = {a: {b for b in targets if not b.startswith(a + ".")} for a, targets in graph.items()}
    seen: dict[str, int] = {}
    circle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                circle.extend(path[path.index(nxt):] + [nxt])
                return True
            if nxt not in seen and visit(nxt, [*path, nxt]):
                return True
        seen[node] = 2
        return False

    for start in sorted(graph):
        if start not in seen and visit(start, [start]):
            break
    assert circle == []


def test_no_module_imports_another_modules_private_names() -> None:
    private = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                private += [f"{module_name(path)}: {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert private == []


def test_the_report_does_not_import_the_channels() -> None:
    def inside(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    crossing = sorted(f"{a} imports {b}" for a, targets in imports().items() if inside(a, "monitor.report")
                      for b in targets if inside(b, "monitor.notify"))
    assert crossing == []

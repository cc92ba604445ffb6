"""The floor plan (../shared/ARCHITECTURE.md, CONTRIBUTING.md): every import points down or
sideways, never up, deferred imports inside functions included (imports under
``if TYPE_CHECKING:`` are for annotations only and do not count). So there is no import cycle
between floors, e.g. between store/ and projections/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eventlab"

#: floor of each top-level module or package of eventlab (higher may import lower)
FLOORS: dict[str, int] = {
    # 1 core: knows nothing of eventlab above it
    "errors": 1, "timeutil": 1, "envelope": 1, "window": 1, "render": 1, "textformat": 1,
    "progress": 1, "samples": 1, "display": 1, "version": 1,
    # 2 storage: commit protocol, durability, layout, privacy codec
    "storage": 2,
    # 3 the storage core
    "store": 3,
    # 4 sources (importers) and the privacy operations above the store
    "sources": 4, "importers": 4, "privacy": 4,
    # 5 the read side
    "projections": 5, "reducers": 5,
    # 6 process analytics
    "process": 6,
    # 7 the write side
    "write": 7,
    # 8 charts
    "charts": 8,
    # 9 what users touch
    "api": 9, "widgets": 9, "cli": 9, "examples": 9, "__init__": 9, "__main__": 9,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "eventlab":
        return None
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in FLOORS:
        raise AssertionError(f"{module}: add its top-level name to FLOORS (and ARCHITECTURE.md)")
    return FLOORS[top]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for child in ast.walk(node))
    return skip


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every runtime import in ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names
                      if (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")).exists()]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_floor() -> None:
    for path in SOURCES:
        floor_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_import_points_up(path: Path) -> None:
    here = module_name(path)
    mine = floor_of(here)
    assert mine is not None
    upward = [
        f"line {line}: {here} (floor {mine}) imports {target} (floor {floor_of(target)})"
        for line, target in imports_of(path)
        if (theirs := floor_of(target)) is not None and theirs > mine
    ]
    assert upward == []


def test_no_cycle_between_packages() -> None:
    """Packages (store, projections, ...) form an acyclic graph of runtime imports."""
    edges: dict[str, set[str]] = {}
    for path in SOURCES:
        src = module_name(path).split(".")[1] if "." in module_name(path) else "__init__"
        for _, target in imports_of(path):
            parts = target.split(".")
            if parts[0] == "eventlab" and len(parts) > 1 and parts[1] != src:
                edges.setdefault(src, set()).add(parts[1])
    seen: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if seen.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*trail, node]))
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, [*trail, node])
        seen[node] = 2

    for start in sorted(edges):
        visit(start, [])
